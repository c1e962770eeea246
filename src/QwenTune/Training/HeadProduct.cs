using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// The vocabulary head's three products for <see cref="FusedLinearCrossEntropy"/>, in the model's dtype as Hugging
/// Face computes them: logits rounded to the model dtype, and, from the logits' gradient G rounded to the model
/// dtype, dX += G W_b and dW_b = G^T x. Blocks are vocabulary-major, (Vb, N) = W_b x^T, the layout whose three products
/// run fastest on few tokens (bench `head`: 0.72 of the GEMM peak at 160 tokens x 64 hidden against 0.50 token-major).
/// Float32 accumulates in place (addmm, no temporaries); bf16 on a CPU without fast bf16 runs on float32 GEMMs over a
/// widened x made once per pass (<see cref="BFloat16Products"/>).
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

    /// <summary>Whether the products run in bf16 (libtorch's bf16 GEMM), writing bf16 logits and weight gradients.</summary>
    public bool NativeBFloat16 => _dtype == ScalarType.BFloat16 && !_widen;

    /// <summary>Whether the logits and their gradient are rounded to bf16 between the products.</summary>
    public bool RoundsToBFloat16 => _dtype == ScalarType.BFloat16;

    /// <summary>
    /// (Vb, N) float32 logits of vocabulary rows [start, start + length); <paramref name="round"/> rounds them to the
    /// model dtype (a caller that rounds them itself passes false: float32 GEMMs then give them unrounded).
    /// <paramref name="into"/>: (Vb, N) storage to write them to, used by float32 GEMMs that need no rounding; bf16
    /// storage takes bf16 products' logits as they are (bf16, returned in it).
    /// </summary>
    public Tensor Logits(long start, long length, bool round = true, Tensor? into = null)
    {
        var block = _weight.narrow(0, start, length);
        using var xT = _x.t();
        if (into is not null && into.dtype == ScalarType.BFloat16 && NativeBFloat16)
            return into.addmm_(block, xT, beta: 0);
        if (into is not null && Float32Products && !(round && _widen))
        {
            using var wide = _widen ? block.to(ScalarType.Float32) : null;
            return into.addmm_(wide ?? block, xT, beta: 0);
        }
        if (_dtype == ScalarType.Float32)
            return block.matmul(xT);
        if (!_widen)
            return block.matmul(xT).to(ScalarType.Float32);
        using var wideBlock = block.to(ScalarType.Float32);
        var logits = wideBlock.matmul(xT);
        if (!round)
            return logits;
        using (logits)
        using (var rounded = logits.to(_dtype))
            return rounded.to(ScalarType.Float32);
    }

    /// <summary>
    /// The logits' gradient as the products take it: scaled by the upstream gradient and rounded to the model dtype
    /// (float32 keeps the scale for the products' alpha instead, saving a pass). <paramref name="prepared"/>: the
    /// caller has scaled and rounded it already.
    /// </summary>
    public Tensor GradientOperand(Tensor probabilities, float scale, bool prepared = false)
    {
        if (_dtype == ScalarType.Float32 || (prepared && _widen))
            return probabilities;
        if (prepared)
            return probabilities.to(_dtype);
        var rounded = probabilities.mul_(scale).to(_dtype);
        if (!_widen)
            return rounded;
        using (rounded)
            return rounded.to(ScalarType.Float32);
    }

    private float Alpha(float scale) => _dtype == ScalarType.Float32 ? scale : 1f;

    /// <summary>gradX (N, C) float32 += G^T (N, Vb) @ W_b (Vb, C), G being (Vb, N).</summary>
    public void AccumulateInputGradient(Tensor gradX, Tensor grad, long start, long length, float scale)
    {
        var block = _weight.narrow(0, start, length);
        using var gradT = grad.t();
        if (!Float32Products)
        {
            using var product = gradT.matmul(block);
            gradX.add_(product);
            return;
        }
        using var wideBlock = _widen ? block.to(ScalarType.Float32) : null;
        gradX.addmm_(gradT, wideBlock ?? block, beta: 1, alpha: Alpha(scale));
    }

    /// <summary>gradWBlock (Vb, C) in the weight's dtype = G (Vb, N) @ x (N, C).</summary>
    public void WriteWeightGradient(Tensor gradWBlock, Tensor grad, float scale)
    {
        if (_dtype == ScalarType.Float32)
        {
            gradWBlock.addmm_(grad, _x, beta: 0, alpha: scale);
            return;
        }
        if (NativeBFloat16)
        {
            gradWBlock.addmm_(grad, _x, beta: 0);
            return;
        }
        using var product = grad.matmul(_x);
        gradWBlock.copy_(product);
    }
}
