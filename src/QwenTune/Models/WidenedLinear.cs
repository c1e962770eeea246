using QwenTune.Autograd;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace QwenTune.Models;

/// <summary>
/// y = x @ W^T for bf16 x and W computed on float32 GEMMs (<see cref="BFloat16Products"/>). It keeps the bf16
/// inputs for backward, not float32 copies (which plain autograd over casts would keep: twice the activation
/// memory, plus a float32 copy of every weight until backward), and computes only the gradients needed (none
/// for a frozen weight, as under LoRA).
/// </summary>
internal sealed class WidenedLinear : SingleTensorFunction<WidenedLinear>
{
    [ThreadStatic] private static AutogradContext? t_lastContext;

    public override string Name => nameof(WidenedLinear);

    /// <summary>x (..., in), weight (out, in) -> (..., out) in x's dtype.</summary>
    public static Tensor Apply(Tensor x, Tensor weight)
    {
        t_lastContext = null;
        var output = apply(x, weight);
        if (t_lastContext is { } context)
            OutputPlaceholders.Release(context);
        t_lastContext = null;
        return output;
    }

    public override Tensor forward(AutogradContext ctx, params object[] vars)
    {
        var (x, weight) = ((Tensor)vars[0], (Tensor)vars[1]);
        if (x.requires_grad || weight.requires_grad)
            ctx.save_for_backward([x, weight]);
        ctx.set_materialize_grads(false);
        t_lastContext = ctx;
        using var wideX = x.to(ScalarType.Float32);
        using var wideWeight = weight.to(ScalarType.Float32);
        using var product = nn.functional.linear(wideX, wideWeight);          // (..., out) float32
        return product.to(x.dtype);
    }

    public override List<Tensor> backward(AutogradContext ctx, Tensor gradOutput)
    {
        if (gradOutput is null || gradOutput.IsInvalid)
            return [null!, null!];
        var saved = ctx.get_saved_variables();
        var (x, weight) = (saved[0], saved[1]);
        using var scope = NewDisposeScope();
        var grad = gradOutput.to(ScalarType.Float32);                          // (..., out)
        Tensor? gradX = null, gradWeight = null;
        if (x.requires_grad)
            gradX = grad.matmul(weight.to(ScalarType.Float32)).to(x.dtype);    // (..., in)
        if (weight.requires_grad)
        {
            var rows = grad.reshape(-1, grad.shape[^1]);                       // (N, out)
            var inputs = x.reshape(-1, x.shape[^1]).to(ScalarType.Float32);    // (N, in)
            gradWeight = rows.t().matmul(inputs).to(weight.dtype);             // (out, in)
        }
        gradX?.MoveToOuterDisposeScope();
        gradWeight?.MoveToOuterDisposeScope();
        return [gradX!, gradWeight!];
    }
}
