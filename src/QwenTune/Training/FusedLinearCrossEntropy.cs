using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// Summed next-token cross entropy of <c>x @ W^T</c> without ever materialising the (N, vocab) logits at once: the
/// vocabulary is walked in blocks, keeping a running float32 log-sum-exp per row, and backward forms each block's
/// softmax - one-hot from the logits. Numerically it is Hugging Face's loss (logits computed in the model dtype,
/// then upcast to float32; the logits' gradient cast back to the model dtype before the two products); memory drops
/// from N x vocab floats (2.5 GB for 4096 tokens of Qwen's 151,936-token vocabulary) to one block, plus the
/// forward's blocks that a budget lets backward reuse instead of recomputing (a quarter of the head's products).
/// </summary>
public sealed class FusedLinearCrossEntropy : autograd.SingleTensorFunction<FusedLinearCrossEntropy>
{
    /// <summary>Target bytes of one float32 logits block (tuned by bench `head`).</summary>
    internal static long BlockBytes { get; set; } = 16L << 20;

    /// <summary>Bytes of forward logits blocks kept for backward; past it backward recomputes them.</summary>
    internal static long KeptLogitsBytes { get; set; } = 512L << 20;

    public override string Name => nameof(FusedLinearCrossEntropy);

    /// <summary>Sum over rows of -log softmax(x W^T)[row, target]; x (N, C), weight (V, C), targets (N) int64.</summary>
    public static Tensor NllSum(Tensor x, Tensor weight, Tensor targets) => apply(x, weight, targets, BFloat16Products.Widens(x));

    /// <summary>As <see cref="NllSum(Tensor, Tensor, Tensor)"/>, choosing whether bf16 products widen (for tests).</summary>
    internal static Tensor NllSum(Tensor x, Tensor weight, Tensor targets, bool widenBFloat16) => apply(x, weight, targets, widenBFloat16);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (x, weight, targets, widen) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (bool)vars[3]);
        var needsBackward = x.requires_grad || weight.requires_grad;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rows = x.shape[0];
        var product = new HeadProduct(x, weight, widen);
        var runningMax = full(rows, double.NegativeInfinity, ScalarType.Float32, x.device);
        var runningSum = zeros(rows, ScalarType.Float32, x.device);
        var targetLogit = zeros(rows, ScalarType.Float32, x.device);
        var kept = new List<Tensor>();
        var keptBytes = 0L;
        foreach (var (start, length) in Blocks(rows, weight.shape[0]))
        {
            using var blockScope = NewDisposeScope();
            var logits = product.Logits(start, length);                                    // (N, Vb) float32
            var inBlock = (targets >= start) & (targets < start + length);
            var local = (targets - start).clamp(0, length - 1).unsqueeze(1);
            targetLogit.add_(logits.gather(1, local).squeeze(1).mul_(inBlock));
            var blockMax = logits.amax([1]);
            var keep = needsBackward && keptBytes + logits.NumberOfElements * 4 <= KeptLogitsBytes;
            var shifted = keep ? logits - blockMax.unsqueeze(1) : logits.sub_(blockMax.unsqueeze(1));
            var blockSum = shifted.exp_().sum(1);
            var newMax = maximum(runningMax, blockMax);
            runningSum.mul_((runningMax - newMax).exp_()).add_(blockSum.mul_((blockMax - newMax).exp_()));
            runningMax.copy_(newMax);
            if (keep)
            {
                kept.Add(logits.DetachFromDisposeScope());
                keptBytes += logits.NumberOfElements * 4;
            }
        }
        var logSumExp = runningMax + runningSum.log();
        if (needsBackward)
        {
            // Inputs go through save_for_backward; a tensor made here comes back null from it in TorchSharp
            // 0.107, so the log-sum-exp and the kept blocks travel as data and backward disposes them.
            ctx.save_for_backward([x, weight, targets]);
            ctx.save_data("state", new Held(logSumExp.DetachFromDisposeScope(), kept, widen));
        }
        return (logSumExp - targetLogit).sum().MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var (x, weight, targets) = (saved[0], saved[1], saved[2]);
        var held = (Held)ctx.get_data("state");
        using var logSumExp = held.LogSumExp;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var scale = gradOutput.to(ScalarType.Float32).item<float>();
        var product = new HeadProduct(x, weight, held.Widen);
        var gradX = zeros(x.shape, ScalarType.Float32, x.device);
        var gradW = weight.requires_grad ? zeros_like(weight) : null;
        var block = 0;
        foreach (var (start, length) in Blocks(x.shape[0], weight.shape[0]))
        {
            using var blockScope = NewDisposeScope();
            var keptBlock = block < held.Kept.Count ? held.Kept[block] : null;   // detached: disposed here
            block++;
            var probabilities = (keptBlock ?? product.Logits(start, length)).sub_(logSumExp.unsqueeze(1)).exp_();   // (N, Vb) softmax
            SubtractOneHot(probabilities, targets, start, length);
            var grad = product.GradientOperand(probabilities, scale);                                      // (N, Vb)
            product.AccumulateInputGradient(gradX, grad, start, length, scale);
            if (gradW is not null)
                product.WriteWeightGradient(gradW.narrow(0, start, length), grad, scale);
            keptBlock?.Dispose();
        }
        held.Kept.Clear();
        var gradInput = gradX.to(x.dtype).MoveToOuterDisposeScope();
        gradW?.MoveToOuterDisposeScope();
        return [gradInput, gradW!, null!, null!];
    }

    /// <summary>probabilities[row, target - start] -= 1 for the rows whose target falls in [start, start + length).</summary>
    private static void SubtractOneHot(Tensor probabilities, Tensor targets, long start, long length)
    {
        using var scope = NewDisposeScope();
        var rowsInBlock = ((targets >= start) & (targets < start + length)).nonzero().squeeze(1);
        if (rowsInBlock.numel() == 0)
            return;
        var flat = rowsInBlock * length + (targets.index_select(0, rowsInBlock) - start);
        probabilities.view(-1).index_add_(0, flat, full(flat.shape[0], -1.0f, ScalarType.Float32, probabilities.device), 1);
    }

    /// <summary>Carries the log-sum-exp and the kept blocks through save_data (which warns about bare tensors).</summary>
    private sealed record Held(Tensor LogSumExp, List<Tensor> Kept, bool Widen);

    private static IEnumerable<(long Start, long Length)> Blocks(long rows, long vocabulary)
    {
        var size = Math.Min(vocabulary, Math.Max(1024, BlockBytes / (4 * Math.Max(1, rows))));
        for (long start = 0; start < vocabulary; start += size)
            yield return (start, Math.Min(size, vocabulary - start));
    }
}
