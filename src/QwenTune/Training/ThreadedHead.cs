using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// The fused loss head for float32 on the CPU when the tokens are few (T x H small): each torch thread takes its own
/// contiguous share of the vocabulary and walks it in sub-blocks small enough to stay in its core's L2 cache, running
/// single-threaded MKL products (<see cref="MklGemm"/>) and the <see cref="HeadKernels"/> passes on each sub-block
/// while it is still there. Forward keeps nothing but the log-sum-exp; backward recomputes each sub-block's logits,
/// turns them into softmax - one-hot in place, and feeds the two gradient products, each thread adding into its own
/// input gradient. The libtorch-driven path (<see cref="FusedLinearCrossEntropy"/>' blocks) instead runs every product
/// on all threads over blocks that leave the cache between the product and the pass; at 300 x 64 that path spends
/// about as long in the two passes as in a product.
/// </summary>
internal static unsafe class ThreadedHead
{
    /// <summary>Target bytes of one thread's logits sub-block (tuned by bench `head`).</summary>
    internal static long SubBlockBytes { get; set; } = 256L << 10;

    /// <summary>Largest T x H taken here: each thread keeps a float32 (T, H) input gradient of its own.</summary>
    internal static long MaxTokenElements { get; set; } = 256L << 10;

    /// <summary>Off: the head always takes the libtorch-driven blocks (tests compare the two).</summary>
    internal static bool Enabled { get; set; } = true;

    public static bool Applies(Tensor x, Tensor weight, Tensor targets) =>
        Enabled && MklGemm.Available && HeadKernels.Supported
        && x.device_type == TorchSharp.DeviceType.CPU && weight.device_type == TorchSharp.DeviceType.CPU
        && x.dtype == ScalarType.Float32 && weight.dtype == ScalarType.Float32 && targets.dtype == ScalarType.Int64
        && x.is_contiguous() && weight.is_contiguous() && targets.is_contiguous()
        && x.shape[0] > 0 && x.shape[0] * x.shape[1] <= MaxTokenElements && weight.shape[0] <= int.MaxValue;

    /// <summary>Log-sum-exp (T) and each token's target logit (T, 0 where the target is outside the vocabulary).</summary>
    public static (Tensor LogSumExp, Tensor TargetLogit) Forward(Tensor x, Tensor weight, Tensor targets)
    {
        var (tokens, hidden, vocabulary) = ((int)x.shape[0], (int)x.shape[1], (int)weight.shape[0]);
        var parts = Parts(vocabulary);
        var partialMax = new float[parts * tokens];
        var partialSum = new float[parts * tokens];
        Array.Fill(partialMax, float.NegativeInfinity);
        var targetLogit = zeros(tokens, ScalarType.Float32);
        var (xData, wData, targetData, logitData) = ((nint)Data(x), (nint)Data(weight), (nint)Data(targets), (nint)Data(targetLogit));
        var rows = SubBlockRows(tokens);
        Run(parts, vocabulary, rows * tokens, (part, first, last, blockData) =>
        {
            float* xAt = (float*)xData, wAt = (float*)wData, logitAt = (float*)logitData, block = (float*)blockData;
            var targetAt = (long*)targetData;
            fixed (float* max = &partialMax[part * tokens])
            fixed (float* sum = &partialSum[part * tokens])
            {
                for (var start = first; start < last; start += rows)
                {
                    var length = Math.Min(rows, last - start);
                    MklGemm.Multiply(false, true, length, tokens, hidden, 1f, wAt + (long)start * hidden, hidden, xAt, hidden, 0f, block, tokens);
                    HeadKernels.ReduceRows(block, length, tokens, roundToBFloat16: false, max, sum);
                    for (var t = 0; t < tokens; t++)
                    {
                        var local = targetAt[t] - start;
                        if (local >= 0 && local < length)
                            logitAt[t] = block[local * tokens + t];   // each target lies in one part's rows
                    }
                }
            }
        });
        var runningMax = full(tokens, float.NegativeInfinity, ScalarType.Float32);
        var runningSum = zeros(tokens, ScalarType.Float32);
        fixed (float* max = partialMax)
        fixed (float* sum = partialSum)
            for (var part = 0; part < parts; part++)
                HeadKernels.MergeInto(Data(runningMax), Data(runningSum), max + part * tokens, sum + part * tokens, tokens);
        using (runningMax)
        using (runningSum)
        using (var log = runningSum.log())
            return (runningMax + log, targetLogit);
    }

    /// <summary>Input gradient (T, H) and weight gradient (V, H), both float32, each times <paramref name="scale"/>.</summary>
    public static (Tensor GradX, Tensor GradW) Backward(Tensor x, Tensor weight, Tensor targets, Tensor logSumExp, float scale, bool weightGradient)
    {
        var (tokens, hidden, vocabulary) = ((int)x.shape[0], (int)x.shape[1], (int)weight.shape[0]);
        var parts = Parts(vocabulary);
        var partialX = new float[parts * tokens * hidden];
        var gradW = weightGradient ? empty(weight.shape, ScalarType.Float32) : null;
        var (xData, wData, targetData, lseData) = ((nint)Data(x), (nint)Data(weight), (nint)Data(targets), (nint)Data(logSumExp));
        var gradWData = gradW is null ? 0 : (nint)Data(gradW);
        var rows = SubBlockRows(tokens);
        Run(parts, vocabulary, rows * tokens, (part, first, last, blockData) =>
        {
            float* xAt = (float*)xData, wAt = (float*)wData, lseAt = (float*)lseData, gradWAt = (float*)gradWData, block = (float*)blockData;
            var targetAt = (long*)targetData;
            fixed (float* gradX = &partialX[part * tokens * hidden])
            {
                for (var start = first; start < last; start += rows)
                {
                    var length = Math.Min(rows, last - start);
                    var w = wAt + (long)start * hidden;
                    MklGemm.Multiply(false, true, length, tokens, hidden, 1f, w, hidden, xAt, hidden, 0f, block, tokens);
                    HeadKernels.GradientRows(block, 0, length, tokens, lseAt, roundToBFloat16: false, scale: 1f);   // softmax
                    for (var t = 0; t < tokens; t++)
                    {
                        var local = targetAt[t] - start;
                        if (local >= 0 && local < length)
                            block[local * tokens + t] -= 1f;                                                // - one-hot
                    }
                    MklGemm.Multiply(true, false, tokens, hidden, length, scale, block, tokens, w, hidden, 1f, gradX, hidden);
                    if (gradWAt != null)
                        MklGemm.Multiply(false, false, length, hidden, tokens, scale, block, tokens, xAt, hidden, 0f, gradWAt + (long)start * hidden, hidden);
                }
            }
        });
        var gradXTensor = zeros(tokens, hidden, ScalarType.Float32);
        var sum = new Span<float>(Data(gradXTensor), tokens * hidden);
        for (var part = 0; part < parts; part++)
        {
            var partial = partialX.AsSpan(part * tokens * hidden, tokens * hidden);
            for (var i = 0; i < sum.Length; i++)
                sum[i] += partial[i];
        }
        return (gradXTensor, gradW!);
    }

    /// <summary>Rows of one sub-block: about <see cref="SubBlockBytes"/> of logits, a multiple of 8, at least 16.</summary>
    private static int SubBlockRows(int tokens) => (int)Math.Max(16, SubBlockBytes / (4L * tokens) / 8 * 8);

    private static int Parts(int vocabulary) => Math.Max(1, Math.Min(get_num_threads(), vocabulary / 64));

    /// <summary>
    /// The vocabulary cut into <paramref name="parts"/> contiguous shares, each run on its own thread with
    /// single-threaded MKL and a scratch sub-block of <paramref name="blockElements"/> floats.
    /// </summary>
    private static void Run(int parts, int vocabulary, long blockElements, Action<int, int, int, nint> body)
    {
        void Part(int part)
        {
            var block = (float*)NativeMemory.AlignedAlloc((nuint)(blockElements * sizeof(float)), 64);
            var previous = MklGemm.SetThreadsForThisThread(1);
            try
            {
                body(part, (int)((long)vocabulary * part / parts), (int)((long)vocabulary * (part + 1) / parts), (nint)block);
            }
            finally
            {
                MklGemm.SetThreadsForThisThread(previous);
                NativeMemory.AlignedFree(block);
            }
        }
        if (parts == 1)
            Part(0);
        else
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, Part);
    }

    private static float* Data(Tensor tensor) => (float*)Checkpoints.TensorMemory.DataPointer(tensor);
}
