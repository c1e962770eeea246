using QwenTune.Checkpoints;
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
/// On the CPU the element-wise work on each block is <see cref="HeadKernels"/>' single passes; elsewhere libtorch's ops.
/// float32 and bf16 on the CPU with few tokens take <see cref="ThreadedHead"/> instead: per-thread sub-blocks kept in cache;
/// there a float32 forward that a backward will follow forms the gradients too, unscaled, and backward only scales them.
/// </summary>
public sealed class FusedLinearCrossEntropy : autograd.SingleTensorFunction<FusedLinearCrossEntropy>
{
    /// <summary>
    /// Target bytes of one float32 logits block (tuned by bench `head --block-mb`: at 300 x 64, 4 MB ran 0.34 s against
    /// 0.37 s for 16 MB, the same at 1024 x 64; 1 MB blocks lose to per-call overhead). Per thread (ThreadTunable), so a
    /// test that changes it does not change the runs of tests beside it.
    /// </summary>
    internal static readonly ThreadTunable<long> BlockBytes = new(4L << 20);

    /// <summary>Bytes of forward logits blocks kept for backward; past it backward recomputes them (per thread, as BlockBytes).</summary>
    internal static readonly ThreadTunable<long> KeptLogitsBytes = new(512L << 20);

    public override string Name => nameof(FusedLinearCrossEntropy);

    /// <summary>Sum over rows of -log softmax(x W^T)[row, target]; x (N, C), weight (V, C), targets (N) int64.</summary>
    public static Tensor NllSum(Tensor x, Tensor weight, Tensor targets) => NllSum(x, weight, targets, BFloat16Products.Widens(x));

    /// <summary>As <see cref="NllSum(Tensor, Tensor, Tensor)"/>, choosing whether bf16 products widen (for tests).</summary>
    internal static Tensor NllSum(Tensor x, Tensor weight, Tensor targets, bool widenBFloat16) =>
        apply(x, weight, targets, widenBFloat16, is_grad_enabled());

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (x, weight, targets, widen) = ((Tensor)vars[0], (Tensor)vars[1], (Tensor)vars[2], (bool)vars[3]);
        // Under no_grad (evaluation) a parameter still requires grad, but no backward follows to return the arena.
        var needsBackward = (bool)vars[4] && (x.requires_grad || weight.requires_grad);
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        if (needsBackward && x.dtype == ScalarType.Float32 && ThreadedHead.Applies(x, weight, targets, widen)
            && ThreadedHead.ForwardWithGradients(x, weight, targets, weight.requires_grad) is var (early, earlyTarget, earlyX, earlyW))
        {
            ctx.save_data("state", new Held(early.DetachFromDisposeScope(), [], widen, null, null, Threaded: true,
                EarlyGradX: earlyX.DetachFromDisposeScope(), EarlyGradW: earlyW?.DetachFromDisposeScope()));
            return (early - earlyTarget).sum().MoveToOuterDisposeScope();
        }
        if (ThreadedHead.Applies(x, weight, targets, widen))
        {
            var (threadedLogSumExp, threadedTarget, threadedKept) = ThreadedHead.Forward(x, weight, targets, keep: needsBackward, widen);
            if (needsBackward)
            {
                ctx.save_for_backward([x, weight, targets]);
                ctx.save_data("state", new Held(threadedLogSumExp.DetachFromDisposeScope(), [], widen, null, null, Threaded: true, threadedKept));
            }
            return (threadedLogSumExp - threadedTarget).sum().MoveToOuterDisposeScope();
        }
        var rows = x.shape[0];
        var product = new HeadProduct(x, weight, widen);
        var kernels = UsesKernels(x, weight, targets);
        var contiguousTargets = kernels ? targets.contiguous() : targets;
        var runningMax = full(rows, double.NegativeInfinity, ScalarType.Float32, x.device);
        var runningSum = zeros(rows, ScalarType.Float32, x.device);
        var targetLogit = zeros(rows, ScalarType.Float32, x.device);
        var blocks = Blocks(rows, weight.shape[0]).ToList();
        // libtorch's bf16 products write bf16 logits: the passes read them as they are, and bf16 blocks are kept.
        var blockType = kernels && product.NativeBFloat16 ? ScalarType.BFloat16 : ScalarType.Float32;
        var blockBytes = blockType == ScalarType.BFloat16 ? 2 : 4;
        var keepCount = needsBackward ? Math.Min(blocks.Count, (int)(KeptLogitsBytes.Value / Math.Max(1, blocks[0].Length * rows * blockBytes))) : 0;
        var holder = new object();
        var arena = kernels ? LeaseArena(blocks, keepCount, rows, holder, blockType) : null;
        var kept = new List<Tensor>();
        foreach (var (index, (start, length)) in blocks.Index())
        {
            using var blockScope = NewDisposeScope();
            var keep = index < keepCount;
            var into = arena is null ? null : BlockStorage(arena, blocks[0].Length * rows, keep ? index : keepCount, length, rows);   // the block scope's
            var logits = product.Logits(start, length, round: !kernels, into);                 // (Vb, N) float32, or bf16 into a bf16 arena
            if (kernels)
                ReduceOnCpu(logits, start, contiguousTargets, product.RoundsToBFloat16, runningMax, runningSum, targetLogit);
            else
                Reduce(logits, start, targets, keep, runningMax, runningSum, targetLogit);
            if (keep)
                kept.Add(logits.DetachFromDisposeScope());
        }
        if (arena is not null && !needsBackward)
            LogitsArena.Return(holder);
        var logSumExp = runningMax + runningSum.log();
        if (needsBackward)
        {
            // Inputs go through save_for_backward; a tensor made here comes back null from it in TorchSharp
            // 0.107, so the log-sum-exp and the kept blocks travel as data and backward disposes them.
            ctx.save_for_backward([x, weight, targets]);
            ctx.save_data("state", new Held(logSumExp.DetachFromDisposeScope(), kept, widen, arena, arena is null ? null : holder));
        }
        return (logSumExp - targetLogit).sum().MoveToOuterDisposeScope();
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var held = (Held)ctx.get_data("state");
        using var logSumExp = held.LogSumExp;
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var scale = gradOutput.to(ScalarType.Float32).item<float>();
        if (held.EarlyGradX is { } earlyX)
        {
            // The forward formed them unscaled (float32: the scale would have gone to the products' alpha). Detached
            // there, they join this scope to be handed on as the threaded path's are.
            scope.Attach(earlyX);
            var earlyW = held.EarlyGradW;
            if (earlyW is not null)
                scope.Attach(earlyW);
            return [earlyX.mul_(scale).MoveToOuterDisposeScope(), earlyW?.mul_(scale).MoveToOuterDisposeScope()!, null!, null!, null!];
        }
        var saved = ctx.get_saved_variables();
        var (x, weight, targets) = (saved[0], saved[1], saved[2]);
        if (held.Threaded)
        {
            var (threadedX, threadedW) = ThreadedHead.Backward(x, weight, targets, logSumExp, scale, weight.requires_grad, held.ThreadedKept, held.Widen);
            threadedW?.MoveToOuterDisposeScope();
            return [threadedX.MoveToOuterDisposeScope(), threadedW!, null!, null!, null!];
        }
        var product = new HeadProduct(x, weight, held.Widen);
        var kernels = UsesKernels(x, weight, targets);
        var contiguousTargets = kernels ? targets.contiguous() : targets;
        var gradX = zeros(x.shape, ScalarType.Float32, x.device);
        var gradW = weight.requires_grad ? empty_like(weight) : null;   // every block's rows are written whole
        var blocks = Blocks(x.shape[0], weight.shape[0]).ToList();
        // The forward's arena is this call's until the end of backward: recomputed blocks go to its scratch block.
        var arena = held.Arena;
        foreach (var (index, (start, length)) in blocks.Index())
        {
            using var blockScope = NewDisposeScope();
            var keptBlock = index < held.Kept.Count ? held.Kept[index] : null;   // detached: disposed here
            var into = arena is null || keptBlock is not null ? null : BlockStorage(arena, blocks[0].Length * x.shape[0], held.Kept.Count, length, x.shape[0]);
            var logits = keptBlock ?? product.Logits(start, length, round: !kernels, into);
            Tensor grad;
            if (kernels)
            {
                SoftmaxGradientOnCpu(logits, start, contiguousTargets, logSumExp, product.RoundsToBFloat16, scale);
                grad = product.GradientOperand(logits, scale, prepared: true);              // (Vb, N)
            }
            else
            {
                var probabilities = logits.sub_(logSumExp.unsqueeze(0)).exp_();               // (Vb, N) softmax
                SubtractOneHot(probabilities, targets, start, length);
                grad = product.GradientOperand(probabilities, scale);
            }
            product.AccumulateInputGradient(gradX, grad, start, length, scale);
            if (gradW is not null)
                product.WriteWeightGradient(gradW.narrow(0, start, length), grad, scale);
            keptBlock?.Dispose();
        }
        held.Kept.Clear();
        if (held.ArenaHolder is not null)
            LogitsArena.Return(held.ArenaHolder);
        var gradInput = gradX.to(x.dtype).MoveToOuterDisposeScope();
        gradW?.MoveToOuterDisposeScope();
        return [gradInput, gradW!, null!, null!, null!];
    }

    /// <summary>Whether blocks take <see cref="HeadKernels"/> (CPU tensors, float32 or bf16, AVX2) or libtorch's ops.</summary>
    private static bool UsesKernels(Tensor x, Tensor weight, Tensor targets) =>
        HeadKernels.Enabled.Value && HeadKernels.Supported && x.device_type == TorchSharp.DeviceType.CPU
        && weight.device_type == TorchSharp.DeviceType.CPU && targets.dtype == ScalarType.Int64
        && x.dtype is ScalarType.Float32 or ScalarType.BFloat16;

    /// <summary>libtorch's ops: the block (Vb, N) folded into the running log-sum-exp per token.</summary>
    private static void Reduce(Tensor logits, long start, Tensor targets, bool keep, Tensor runningMax, Tensor runningSum, Tensor targetLogit)
    {
        var length = logits.shape[0];
        var inBlock = (targets >= start) & (targets < start + length);
        var local = (targets - start).clamp(0, length - 1).unsqueeze(0);
        targetLogit.add_(logits.gather(0, local).squeeze(0).mul_(inBlock));
        var blockMax = logits.amax([0]);
        var shifted = keep ? logits - blockMax.unsqueeze(0) : logits.sub_(blockMax.unsqueeze(0));
        var blockSum = shifted.exp_().sum([0]);
        var newMax = maximum(runningMax, blockMax);
        runningSum.mul_((runningMax - newMax).exp_()).add_(blockSum.mul_((blockMax - newMax).exp_()));
        runningMax.copy_(newMax);
    }

    private static unsafe void ReduceOnCpu(Tensor logits, long start, Tensor targets, bool round, Tensor runningMax, Tensor runningSum, Tensor targetLogit)
    {
        var (length, rows) = ((int)logits.shape[0], (int)logits.shape[1]);
        var targetAt = (long*)TensorMemory.DataPointer(targets);
        float* max = (float*)TensorMemory.DataPointer(runningMax), sum = (float*)TensorMemory.DataPointer(runningSum),
            target = (float*)TensorMemory.DataPointer(targetLogit);
        if (logits.dtype == ScalarType.BFloat16)
            HeadKernels.Reduce((ushort*)TensorMemory.DataPointer(logits), length, rows, start, targetAt, max, sum, target);
        else
            HeadKernels.Reduce((float*)TensorMemory.DataPointer(logits), length, rows, start, targetAt, round, max, sum, target);
    }

    private static unsafe void SoftmaxGradientOnCpu(Tensor logits, long start, Tensor targets, Tensor logSumExp, bool round, float scale)
    {
        var (length, rows) = ((int)logits.shape[0], (int)logits.shape[1]);
        var targetAt = (long*)TensorMemory.DataPointer(targets);
        var lse = (float*)TensorMemory.DataPointer(logSumExp);
        if (logits.dtype == ScalarType.BFloat16)
            HeadKernels.SoftmaxGradient((ushort*)TensorMemory.DataPointer(logits), length, rows, start, targetAt, lse, scale);
        else
            HeadKernels.SoftmaxGradient((float*)TensorMemory.DataPointer(logits), length, rows, start, targetAt, lse, round, scale);
    }

    /// <summary>probabilities[target - start, row] -= 1 for the rows whose target falls in [start, start + length).</summary>
    private static void SubtractOneHot(Tensor probabilities, Tensor targets, long start, long length)
    {
        using var scope = NewDisposeScope();
        var rowsInBlock = ((targets >= start) & (targets < start + length)).nonzero().squeeze(1);
        if (rowsInBlock.numel() == 0)
            return;
        var flat = (targets.index_select(0, rowsInBlock) - start) * targets.shape[0] + rowsInBlock;
        probabilities.view(-1).index_add_(0, flat, full(flat.shape[0], -1.0f, ScalarType.Float32, probabilities.device), 1);
    }

    /// <summary>Carries the log-sum-exp and the kept blocks through save_data (which warns about bare tensors).</summary>
    private sealed record Held(Tensor LogSumExp, List<Tensor> Kept, bool Widen, Tensor? Arena, object? ArenaHolder, bool Threaded = false,
        ThreadedHead.KeptLogits? ThreadedKept = null, Tensor? EarlyGradX = null, Tensor? EarlyGradW = null);

    /// <summary>
    /// The arena for this call's blocks, held until its backward: the kept ones, then one scratch block for those that
    /// are not. Null when another call holds it.
    /// </summary>
    private static Tensor? LeaseArena(List<(long Start, long Length)> blocks, int keepCount, long rows, object holder, ScalarType dtype)
    {
        var slots = keepCount + (keepCount < blocks.Count ? 1 : 0);
        return LogitsArena.Lease(slots * blocks[0].Length * rows, holder, dtype);
    }

    /// <summary>Slot <paramref name="slot"/> (of <paramref name="slotElements"/> each) of the arena as a (length, rows) view.</summary>
    private static Tensor BlockStorage(Tensor arena, long slotElements, int slot, long length, long rows)
    {
        using var flat = arena.narrow(0, slot * slotElements, length * rows);
        return flat.view(length, rows);
    }

    /// <summary>Vocabulary blocks of about <see cref="BlockBytes"/>, whole multiples of <see cref="HeadKernels.SliceRows"/>.</summary>
    internal static IEnumerable<(long Start, long Length)> Blocks(long rows, long vocabulary)
    {
        var slices = Math.Max(2, BlockBytes.Value / (4 * Math.Max(1, rows)) / HeadKernels.SliceRows);
        var size = Math.Min(vocabulary, slices * HeadKernels.SliceRows);
        for (long start = 0; start < vocabulary; start += size)
            yield return (start, Math.Min(size, vocabulary - start));
    }
}
