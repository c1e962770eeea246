using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// Summed next-token cross entropy of <c>x @ W^T</c> without ever materialising the (N, vocab) logits: the
/// vocabulary is walked in blocks that fit in cache, keeping a running float32 log-sum-exp per row, and
/// backward recomputes each block's logits to form softmax - one-hot. Numerically it is Hugging Face's loss
/// (logits computed in the model dtype, then upcast to float32); memory drops from N x vocab floats (2.5 GB
/// for 4096 tokens of Qwen's 151,936-token vocabulary) to one block, and on CPU the elementwise work stays in
/// cache instead of streaming through memory.
/// </summary>
public sealed class FusedLinearCrossEntropy : autograd.SingleTensorFunction<FusedLinearCrossEntropy>
{
    /// <summary>Target bytes of one float32 logits block.</summary>
    private const long BlockBytes = 2L << 20;

    public override string Name => nameof(FusedLinearCrossEntropy);

    /// <summary>Sum over rows of -log softmax(x W^T)[row, target]; x (N, C), weight (V, C), targets (N) int64.</summary>
    public static Tensor NllSum(Tensor x, Tensor weight, Tensor targets) => apply(x, weight, targets);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (x, weight, targets) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2]);
        var needsBackward = x.requires_grad || weight.requires_grad;
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var rows = x.shape[0];
        var runningMax = full(rows, double.NegativeInfinity, ScalarType.Float32, x.device);
        var runningSum = zeros(rows, ScalarType.Float32, x.device);
        var targetLogit = zeros(rows, ScalarType.Float32, x.device);
        foreach (var (start, length) in Blocks(rows, weight.shape[0]))
        {
            using var blockScope = NewDisposeScope();
            var logits = Logits(x, weight, start, length);                                 // (N, Vb) float32
            var inBlock = (targets >= start) & (targets < start + length);
            var local = (targets - start).clamp(0, length - 1).unsqueeze(1);
            targetLogit.add_(logits.gather(1, local).squeeze(1) * inBlock);
            var newMax = maximum(runningMax, logits.amax([1]));
            runningSum.mul_((runningMax - newMax).exp_()).add_(logits.sub_(newMax.unsqueeze(1)).exp_().sum(1));
            runningMax.copy_(newMax);
        }
        var logSumExp = runningMax + runningSum.log();
        if (needsBackward)
        {
            // Inputs go through save_for_backward; a tensor made here comes back null from it in TorchSharp
            // 0.107, so the log-sum-exp travels as data and backward disposes it.
            ctx.save_for_backward([x, weight, targets]);
            ctx.save_data("lse", new Held(logSumExp.DetachFromDisposeScope()));
        }
        return (logSumExp - targetLogit).sum().MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var (x, weight, targets) = (saved[0], saved[1], saved[2]);
        using var logSumExp = ((Held)ctx.get_data("lse")).Tensor;
        using var noGrad = no_grad();
        var scale = gradOutput.to(ScalarType.Float32);
        var gradX = zeros(x.shape, ScalarType.Float32, x.device);
        var gradW = weight.requires_grad ? zeros_like(weight) : null;
        foreach (var (start, length) in Blocks(x.shape[0], weight.shape[0]))
        {
            using var blockScope = NewDisposeScope();
            var probabilities = Logits(x, weight, start, length).sub_(logSumExp.unsqueeze(1)).exp_();   // softmax block
            var inBlock = ((targets >= start) & (targets < start + length)).nonzero().squeeze(1);
            if (inBlock.numel() > 0)
            {
                var columns = (targets.index_select(0, inBlock) - start).unsqueeze(1);
                var rowsOfBlock = probabilities.index_select(0, inBlock);
                rowsOfBlock.scatter_add_(1, columns, full_like(columns, -1.0, ScalarType.Float32));
                probabilities.index_copy_(0, inBlock, rowsOfBlock);
            }
            var grad = probabilities.mul_(scale).to(x.dtype);                              // (N, Vb)
            var block = weight.narrow(0, start, length);
            gradX.add_(grad.matmul(block));
            gradW?.narrow(0, start, length).copy_(grad.t().matmul(x));
        }
        var gradInput = gradX.to(x.dtype);
        gradX.Dispose();
        return [gradInput, gradW!, null!];
    }

    /// <summary>Carries a tensor through save_data (which warns about bare tensors).</summary>
    private sealed record Held(Tensor Tensor);

    private static Tensor Logits(Tensor x, Tensor weight, long start, long length) =>
        nn.functional.linear(x, weight.narrow(0, start, length)).to(ScalarType.Float32);

    private static IEnumerable<(long Start, long Length)> Blocks(long rows, long vocabulary)
    {
        var size = Math.Min(vocabulary, Math.Max(1024, BlockBytes / (4 * Math.Max(1, rows))));
        for (long start = 0; start < vocabulary; start += size)
            yield return (start, Math.Min(size, vocabulary - start));
    }
}
