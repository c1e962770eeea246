using QwenTune.Autograd;
using QwenTune.Models;
using TorchSharp;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace QwenTune.Quantization;

/// <summary>
/// y = x @ W^T for a frozen NF4 weight W, differentiable in x only. Autograd would otherwise keep the dequantised W
/// (a full bf16/fp32 copy per layer) alive until backward; this function keeps only a reference to the NF4 storage
/// and dequantises again in backward, as bitsandbytes' MatMul4Bit does.
/// </summary>
internal sealed class Nf4MatMul : SingleTensorFunction<Nf4MatMul>
{
    private const string WeightKey = "nf4_weight";

    // TorchSharp's Function.apply creates one Node per call and hands its context to forward; apply itself gives no
    // way back to that node, so forward leaves the context here for Apply (same thread, synchronously) to pick up.
    [ThreadStatic] private static AutogradContext? t_lastContext;

    public override string Name => nameof(Nf4MatMul);

    /// <summary>x (..., in) -> (..., out) in x's dtype.</summary>
    public static Tensor Apply(Tensor input, Nf4Tensor weight)
    {
        t_lastContext = null;
        var output = apply(input, weight);
        if (t_lastContext is { } context)
            ReleaseOutputPlaceholders(context);
        t_lastContext = null;
        return output;
    }

    public override Tensor forward(AutogradContext ctx, params object[] vars)
    {
        var input = (Tensor)vars[0];
        var weight = (Nf4Tensor)vars[1];
        ctx.save_data(WeightKey, weight);
        ctx.set_materialize_grads(false);
        t_lastContext = ctx;
        using var dense = weight.Dequantize(input.dtype);                    // (out, in)
        using var denseT = dense.t();
        return BFloat16Products.MatMul(input, denseT);                       // (..., out)
    }

    public override List<Tensor> backward(AutogradContext ctx, Tensor grad_output)
    {
        // Undefined when nothing downstream produced a gradient for y (materialisation is off, see below).
        if (grad_output is null || grad_output.IsInvalid)
            return [null!, null!];
        var weight = (Nf4Tensor)ctx.get_data(WeightKey);
        using var dense = weight.Dequantize(grad_output.dtype);              // (out, in)
        return [BFloat16Products.MatMul(grad_output, dense), null!];                           // (..., in); none for the NF4 storage
    }

    /// <summary>Whether this thread's last <see cref="Apply"/> freed TorchSharp's per-output placeholder (for tests).</summary>
    internal static bool LastReleaseSucceeded => t_lastReleaseSucceeded;

    [ThreadStatic] private static bool t_lastReleaseSucceeded;

    private static void ReleaseOutputPlaceholders(AutogradContext context) =>
        t_lastReleaseSucceeded = OutputPlaceholders.Release(context);
}
