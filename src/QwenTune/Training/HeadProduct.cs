using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// The vocabulary head's three products for <see cref="FusedLinearCrossEntropy"/>, in the model's dtype as Hugging
/// Face computes them: logits x W_b^T rounded to the model dtype, and, from the logits' gradient G rounded to the
/// model dtype, dX += G W_b and dW_b = G^T x. Float32 accumulates in place (addmm, no temporaries); bf16 on a CPU
/// without fast bf16 runs on float32 GEMMs over a widened x made once per pass (<see cref="BFloat16Products"/>).
/// </summary>
internal sealed class HeadProduct
{
    private readonly Tensor _x;
    private readonly Tensor _weight;
    private readonly ScalarType _dtype;
    private readonly bool _widen;

    /// <param name="x">(N, C) rows of hidden states.</param>
    /// <param name="weight">(V, C) output embedding.</param>
    /// <param name="widen">Whether bf16 products run on float32 GEMMs (<see cref="BFloat16Products.Widens"/>).</param>
    public HeadProduct(Tensor x, Tensor weight, bool widen)
    {
        _dtype = x.dtype;
        _widen = widen && x.dtype == ScalarType.BFloat16;
        _x = _widen ? x.to(ScalarType.Float32) : x;   // made inside the caller's dispose scope
        _weight = weight;
    }

    private bool Float32Products => _dtype == ScalarType.Float32 || _widen;

    /// <summary>(N, Vb) float32 logits of vocabulary rows [start, start + length).</summary>
    public Tensor Logits(long start, long length)
    {
        var block = _weight.narrow(0, start, length);
        if (_dtype == ScalarType.Float32)
            return nn.functional.linear(_x, block);
        if (!_widen)
            return nn.functional.linear(_x, block).to(ScalarType.Float32);
        using var wideBlock = block.to(ScalarType.Float32);
        using var logits = nn.functional.linear(_x, wideBlock);
        using var rounded = logits.to(_dtype);
        return rounded.to(ScalarType.Float32);
    }

    /// <summary>
    /// The logits' gradient as the products take it: scaled by the upstream gradient and rounded to the model dtype
    /// (float32 keeps the scale for the products' alpha instead, saving a pass).
    /// </summary>
    public Tensor GradientOperand(Tensor probabilities, float scale)
    {
        if (_dtype == ScalarType.Float32)
            return probabilities;
        var rounded = probabilities.mul_(scale).to(_dtype);
        if (!_widen)
            return rounded;
        using (rounded)
            return rounded.to(ScalarType.Float32);
    }

    private float Alpha(float scale) => _dtype == ScalarType.Float32 ? scale : 1f;

    /// <summary>gradX (N, C) float32 += G (N, Vb) @ W_b (Vb, C).</summary>
    public void AccumulateInputGradient(Tensor gradX, Tensor grad, long start, long length, float scale)
    {
        var block = _weight.narrow(0, start, length);
        if (!Float32Products)
        {
            using var product = grad.matmul(block);
            gradX.add_(product);
            return;
        }
        using var wideBlock = _widen ? block.to(ScalarType.Float32) : null;
        gradX.addmm_(grad, wideBlock ?? block, beta: 1, alpha: Alpha(scale));
    }

    /// <summary>gradWBlock (Vb, C) in the weight's dtype = G^T (Vb, N) @ x (N, C).</summary>
    public void WriteWeightGradient(Tensor gradWBlock, Tensor grad, float scale)
    {
        using var gradT = grad.t();
        if (_dtype == ScalarType.Float32)
        {
            gradWBlock.addmm_(gradT, _x, beta: 0, alpha: scale);
            return;
        }
        using var product = gradT.matmul(_x);
        gradWBlock.copy_(product);
    }
}
