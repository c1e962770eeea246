using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// The fused loss head on the CPU when the tokens are few (T x H small): each torch thread takes its own contiguous
/// share of the vocabulary and walks it in sub-blocks of a few hundred rows by a tile of up to
/// <see cref="TileTokens"/> tokens, small enough to stay in its core's L2 cache, running single-threaded MKL products
/// (<see cref="MklGemm"/>) and the <see cref="HeadKernels"/> passes on each while it is still there. While the budget
/// (<see cref="FusedLinearCrossEntropy.KeptLogitsBytes"/>) lasts, forward writes each sub-block's exp(x - m) into a
/// leased <see cref="LogitsArena"/>, so backward multiplies instead of recomputing the logits (one of four products at
/// H = 64) and their exp; past it, backward recomputes. Backward forms each sub-block's softmax - one-hot in scratch and
/// feeds the two gradient products, each thread adding into its own input gradient. The libtorch-driven path
/// (<see cref="FusedLinearCrossEntropy"/>' blocks) instead runs every product on all threads over blocks that leave the
/// cache between the product and the pass. float32, and bf16 with the block path's rounding (logits and their
/// gradient rounded to bf16, the weight gradient rounded once) on either of the products training uses for bf16
/// (<see cref="BFloat16Products.Widens"/>): float32 MKL over each sub-block of weights widened as it is used, or,
/// where the CPU has AVX512-BF16 or AMX, libtorch's bf16 GEMM (<see cref="NativeProducts"/>, about four times faster).
/// </summary>
internal static unsafe class ThreadedHead
{
    // The knobs are per thread (ThreadTunable): tests that change them do not change the runs of tests beside them.

    /// <summary>Target bytes of one thread's logits sub-block (tuned by bench `head --sub-kb`: 256 KB at 300 x 64).</summary>
    internal static readonly ThreadTunable<long> SubBlockBytes = new(256L << 10);

    /// <summary>
    /// As <see cref="SubBlockBytes"/> (float32 bytes of one sub-block's logits) for bf16 on libtorch's bf16 products
    /// (<see cref="NativeProducts"/>), whose calls cost more than MKL's. bench `head --bf16 --fused-only --sub-kb`, two
    /// rounds: 300 x 64 took 0.103/0.110 s at 1 MB, 0.086/0.100 at 2 MB, 0.126/0.108 at 4 MB; 1024 x 64 0.307/0.299,
    /// 0.271/0.268, 0.263/0.240.
    /// </summary>
    internal static readonly ThreadTunable<long> NativeSubBlockBytes = new(2L << 20);

    /// <summary>Most tokens of one tile (<see cref="TokenTiles"/>).</summary>
    internal static readonly ThreadTunable<int> TileTokens = new(384);

    /// <summary>
    /// Largest T x H taken here: each thread keeps a float32 (T, H) input gradient of its own. bench head, interleaved
    /// against the block path: 1024 x 512 4.19/4.20 s against 4.71/5.11, 2048 x 256 5.23/4.67 against 5.84/5.02,
    /// 512 x 896 3.48/3.54 against 4.01/3.34.
    /// </summary>
    internal static readonly ThreadTunable<long> MaxTokenElements = new(512L << 10);

    /// <summary>
    /// Largest T x H taken here in float32 (a 64 MB input gradient per thread at the default), where
    /// <see cref="ForwardWithGradients"/> recomputes nothing: bench head against the block path, 4096 x 256 6.43 s
    /// against 11.19, 1024 x 1024 7.57 against 7.91.
    /// </summary>
    internal static readonly ThreadTunable<long> MaxFloat32TokenElements = new(8L << 20);

    /// <summary>
    /// Largest T x H taken here in bf16 on libtorch's bf16 products (<see cref="NativeProducts"/>; a 32 MB float32
    /// input gradient per thread at the default). bench `head --bf16 --fused-only` on a 2-core Zen 5 (AVX512-BF16),
    /// against the block path at <see cref="MaxTokenElements"/>: 2048 x 512 1.56 s (share 0.88) against 2.18 (0.65),
    /// 4096 x 256 1.77 (0.79) against blocks, 8192 x 256 3.73 (0.77) against 5.59 (0.46), 1024 x 1024 1.62 (0.87)
    /// against 1.92 (0.76), 4096 x 1024 6.84 (0.80) against 8.17 (0.69).
    /// </summary>
    internal static readonly ThreadTunable<long> MaxNativeTokenElements = new(8L << 20);

    /// <summary>Off: the head takes the libtorch-driven blocks (tests compare the two).</summary>
    internal static readonly ThreadTunable<bool> Enabled = new(true);

    /// <summary>
    /// Widest hidden size at which a bf16 head on libtorch's bf16 products takes this path with a weight gradient. bench
    /// `head --bf16 --fused-only`, against the block path: 1024 x 1536 2.26 s (share 0.92) against 2.49 (0.81), 2048 x
    /// 2048 6.66 (0.82) against 6.62 (0.83).
    /// </summary>
    internal static readonly ThreadTunable<long> MaxNativeHiddenWithWeightGradient = new(2048);

    /// <summary>
    /// Whether bf16 on libtorch's own products (<see cref="NativeProducts"/>) takes this path: a frozen head (LoRA) at
    /// any width, a trained one up to <see cref="MaxNativeHiddenWithWeightGradient"/> (the token bound
    /// <see cref="MaxNativeTokenElements"/> still applies). Measured on a 2-core Zen 5 against the block path (which now
    /// keeps bf16 blocks), both under jemalloc, interleaved: `head --bf16 --fused-only` 1024 x 256 0.50/0.50 s against
    /// 0.73/0.83, 1024 x 512 0.86/0.86 against 1.12/1.48, 512 x 896 0.73/0.90 against 0.86/1.00; bench `step --model
    /// 89m --dtype bfloat16` full 1.40/1.38 s against 1.90/1.97, with checkpointing 1.56 against 1.88, and ahead under
    /// glibc too (1.77 against 2.03; as started, 2.03 against 2.26). It costs a float32 weight gradient for the
    /// sums over the tiles: peak RSS of that step 2,160 -> 2,400 MB. (Stop 19, on glibc as started and float32 blocks,
    /// measured the 89M full step the other way round: 2.50-2.80 s here against 1.82-1.92.)
    /// </summary>
    private static bool NativeApplies(Tensor x, Tensor weight) =>
        MklGemm.OpenMpAvailable && (!weight.requires_grad || x.shape[1] <= MaxNativeHiddenWithWeightGradient.Value);

    public static bool Applies(Tensor x, Tensor weight, Tensor targets, bool widen) =>
        Enabled.Value && MklGemm.Available && HeadKernels.Supported
        && x.device_type == TorchSharp.DeviceType.CPU && weight.device_type == TorchSharp.DeviceType.CPU
        && x.dtype == weight.dtype && (x.dtype == ScalarType.Float32 || (x.dtype == ScalarType.BFloat16 && (widen || NativeApplies(x, weight))))
        && targets.dtype == ScalarType.Int64 && x.is_contiguous() && weight.is_contiguous() && targets.is_contiguous()
        && x.shape[0] > 0 && x.shape[0] * x.shape[1] <= MostTokenElements(x, widen) && weight.shape[0] <= int.MaxValue;

    private static long MostTokenElements(Tensor x, bool widen) =>
        x.dtype == ScalarType.Float32 ? MaxFloat32TokenElements.Value : widen ? MaxTokenElements.Value : MaxNativeTokenElements.Value;

    /// <summary>
    /// Log-sum-exp (T), each token's target logit (T, 0 where the target is outside the vocabulary), and the logits kept
    /// for backward (null when <paramref name="keep"/> is off or the budget holds no sub-block; in the shared arena, or in
    /// a buffer of their own while another call holds it); whoever gets them passes them to <see cref="Backward"/>,
    /// which returns them.
    /// </summary>
    public static (Tensor LogSumExp, Tensor TargetLogit, KeptLogits? Kept) Forward(Tensor x, Tensor weight, Tensor targets, bool keep, bool widen)
    {
        var (tokens, hidden, vocabulary) = ((int)x.shape[0], (int)x.shape[1], (int)weight.shape[0]);
        var rounds = x.dtype == ScalarType.BFloat16;
        var native = rounds && !widen;
        using var wideX = native ? null : x.to(ScalarType.Float32);   // x itself when float32
        var parts = Parts(vocabulary);
        var partialMax = new float[parts * tokens];
        var partialSum = new float[parts * tokens];
        Array.Fill(partialMax, float.NegativeInfinity);
        var targetLogit = zeros(tokens, ScalarType.Float32);
        var (xData, wData, targetData, logitData) = (wideX is null ? 0 : (nint)Data(wideX), (nint)Data(weight), (nint)Data(targets), (nint)Data(targetLogit));
        var tiles = new TokenTiles(tokens);
        var rows = SubBlockRows(tiles.Widest, native);
        var kept = keep ? KeptLogits.Lease(parts, vocabulary, rows, tiles, keepsBFloat16: native && BFloat16HeadKernels.Supported) : null;
        // libtorch's bf16 products give logits that are bf16 already: the passes need not round them again.
        var roundsLogits = rounds && !native;
        Run(parts, vocabulary, rows, tiles.Widest, hidden, rounds, native ? (x, weight) : null, (part, first, last, scratch) =>
        {
            float* xAt = (float*)xData, logitAt = (float*)logitData;
            var targetAt = (long*)targetData;
            fixed (float* max = &partialMax[part * tokens])
            fixed (float* sum = &partialSum[part * tokens])
            {
                for (int start = first, index = 0; start < last; start += rows)
                {
                    var length = Math.Min(rows, last - start);
                    var w = scratch.Weights(wData, start, length, hidden);
                    for (var tile = 0; tile < tiles.Count; tile++, index++)
                    {
                        var (t0, n) = tiles[tile];
                        var slot = kept is null ? null : kept.Slot(part, index);
                        var block = scratch.Logits;
                        if (scratch.Native is { } bf16Products && BFloat16HeadKernels.Supported)
                        {
                            // bf16 logits as the products wrote them, read without widening them first (and kept as they
                            // are while the budget lasts); kept or not, the same pass forms the sums.
                            var logits = bf16Products.Logits(start, length, t0, n);
                            BFloat16HeadKernels.ReduceLogits(logits, length, n, scratch.Maxima, scratch.Sums, (ushort*)slot, kept?.Stride ?? 0);
                            HeadKernels.MergeInto(max + t0, sum + t0, scratch.Maxima, scratch.Sums, n);
                            BFloat16HeadKernels.CopyTargetLogits(logits, length, n, start, targetAt + t0, logitAt + t0);
                            continue;
                        }
                        if (scratch.Native is { } products)
                            products.Logits(start, length, t0, n, block);
                        else
                            MklGemm.Multiply(false, true, length, n, hidden, 1f, w, hidden, xAt + (long)t0 * hidden, hidden, 0f, block, n);
                        if (slot != null)
                        {
                            var reference = kept!.Reference(part, index);
                            HeadKernels.KeepExp(block, length, n, roundsLogits, reference, scratch.Sums, (float*)slot, kept.Stride);   // rounds the logits first (not when bf16 already)
                            HeadKernels.MergeInto(max + t0, sum + t0, reference, scratch.Sums, n);
                        }
                        else
                            HeadKernels.ReduceRows(block, length, n, roundsLogits, max + t0, sum + t0);   // rounds the logits first (not when bf16 already)
                        HeadKernels.CopyTargetLogits(block, length, n, start, targetAt + t0, logitAt + t0);   // each target lies in one part's rows
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
            return (runningMax + log, targetLogit, kept);
    }

    /// <summary>
    /// Float32 forward that also forms the gradients, for a backward to scale: the tokens are taken one tile at a time,
    /// each tile's logits swept over the whole vocabulary twice, first for the log-sum-exp (keeping every exp(x - m),
    /// <see cref="HeadKernels.KeepExp"/>), then for softmax - one-hot and the two gradient products. Nothing is
    /// recomputed whatever the tokens, and the memory kept is one tile's (V x at most <see cref="TileTokens"/> floats)
    /// rather than all of them. Returns null, and leaves the work to <see cref="Forward"/> and <see cref="Backward"/>,
    /// when that tile does not fit <see cref="FusedLinearCrossEntropy.KeptLogitsBytes"/>.
    /// </summary>
    public static (Tensor LogSumExp, Tensor TargetLogit, Tensor GradX, Tensor? GradW)? ForwardWithGradients(Tensor x, Tensor weight, Tensor targets, bool weightGradient)
    {
        var (tokens, hidden, vocabulary) = ((int)x.shape[0], (int)x.shape[1], (int)weight.shape[0]);
        var parts = Parts(vocabulary);
        var tiles = new TokenTiles(tokens);
        var rows = SubBlockRows(tiles.Widest, native: false);
        var kept = KeptLogits.Lease(parts, vocabulary, rows, tiles, wholeTile: true);
        if (kept is null)
            return null;
        try
        {
            var partialMax = GC.AllocateUninitializedArray<float>(parts * tiles.Widest, pinned: true);
            var partialSum = GC.AllocateUninitializedArray<float>(parts * tiles.Widest, pinned: true);
            var logSumExp = empty(tokens, ScalarType.Float32);
            var targetLogit = zeros(tokens, ScalarType.Float32);
            using var partialX = zeros(parts, tokens, hidden, ScalarType.Float32);   // each thread's own, summed at the end
            var gradW = weightGradient ? empty(weight.shape, ScalarType.Float32) : null;
            var (xData, wData, targetData, logitData, lseData, partialData) =
                ((nint)Data(x), (nint)Data(weight), (nint)Data(targets), (nint)Data(targetLogit), (nint)Data(logSumExp), (nint)Data(partialX));
            var gradWData = gradW is null ? 0 : (nint)Data(gradW);
            var (maxData, sumData) = ((nint)Unsafe.AsPointer(ref partialMax[0]), (nint)Unsafe.AsPointer(ref partialSum[0]));
            for (var tile = 0; tile < tiles.Count; tile++)
            {
                var (t0, n) = tiles[tile];
                Array.Fill(partialMax, float.NegativeInfinity);
                Array.Clear(partialSum);
                Run(parts, vocabulary, rows, tiles.Widest, hidden, false, null, (part, first, last, scratch) =>
                {
                    float* xTile = (float*)xData + (long)t0 * hidden, logitAt = (float*)logitData + t0;
                    float* max = (float*)maxData + part * tiles.Widest, sum = (float*)sumData + part * tiles.Widest;
                    var targetAt = (long*)targetData + t0;
                    for (int start = first, index = 0; start < last; start += rows, index++)
                    {
                        var length = Math.Min(rows, last - start);
                        var reference = kept.Reference(part, index);
                        MklGemm.Multiply(false, true, length, n, hidden, 1f, (float*)wData + (long)start * hidden, hidden, xTile, hidden, 0f, scratch.Logits, n);
                        HeadKernels.KeepExp(scratch.Logits, length, n, false, reference, scratch.Sums, (float*)kept.Slot(part, index), kept.Stride);
                        HeadKernels.MergeInto(max, sum, reference, scratch.Sums, n);
                        HeadKernels.CopyTargetLogits(scratch.Logits, length, n, start, targetAt, logitAt);   // each target lies in one part's rows
                    }
                });
                var lseTile = (float*)lseData + t0;
                for (var part = 1; part < parts; part++)
                    HeadKernels.MergeInto((float*)maxData, (float*)sumData, (float*)maxData + part * tiles.Widest, (float*)sumData + part * tiles.Widest, n);
                for (var t = 0; t < n; t++)
                    lseTile[t] = ((float*)maxData)[t] + MathF.Log(((float*)sumData)[t]);
                Run(parts, vocabulary, rows, tiles.Widest, hidden, false, null, (part, first, last, scratch) =>
                {
                    var xTile = (float*)xData + (long)t0 * hidden;
                    var gradX = (float*)partialData + ((long)part * tokens + t0) * hidden;
                    for (int start = first, index = 0; start < last; start += rows, index++)
                    {
                        var length = Math.Min(rows, last - start);
                        var w = (float*)wData + (long)start * hidden;
                        HeadKernels.KeptGradient((float*)kept.Slot(part, index), kept.Stride, length, n, start, (long*)targetData + t0,
                            kept.Reference(part, index), (float*)lseData + t0, false, 1f, scratch.Sums, scratch.Logits);
                        MklGemm.Multiply(true, false, n, hidden, length, 1f, scratch.Logits, n, w, hidden, 1f, gradX, hidden);
                        if (gradWData != 0)
                            MklGemm.Multiply(false, false, length, hidden, n, 1f, scratch.Logits, n, xTile, hidden, tile == 0 ? 0f : 1f, (float*)gradWData + (long)start * hidden, hidden);
                    }
                });
            }
            return (logSumExp, targetLogit, partialX.sum([0L]), gradW);
        }
        finally
        {
            kept.Return();
        }
    }

    /// <summary>
    /// Input gradient (T, H) in x's dtype and weight gradient (V, H) in the weight's, each times <paramref name="scale"/>
    /// (below float32 the scale is applied before the gradient is rounded, as the block path does).
    /// </summary>
    public static (Tensor GradX, Tensor? GradW) Backward(Tensor x, Tensor weight, Tensor targets, Tensor logSumExp, float scale, bool weightGradient,
        KeptLogits? kept, bool widen)
    {
        try
        {
            return BackwardCore(x, weight, targets, logSumExp, scale, weightGradient, kept, widen);
        }
        finally
        {
            kept?.Return();
        }
    }

    private static (Tensor GradX, Tensor? GradW) BackwardCore(Tensor x, Tensor weight, Tensor targets, Tensor logSumExp, float scale, bool weightGradient,
        KeptLogits? kept, bool widen)
    {
        var (tokens, hidden, vocabulary) = ((int)x.shape[0], (int)x.shape[1], (int)weight.shape[0]);
        var rounds = x.dtype == ScalarType.BFloat16;
        var native = rounds && !widen;
        var (gradientScale, alpha) = rounds ? (scale, 1f) : (1f, scale);
        using var wideX = native ? null : x.to(ScalarType.Float32);
        var parts = Parts(vocabulary);
        // Each thread's own input gradient, summed over the threads at the end.
        using var partialX = zeros(parts, tokens, hidden, ScalarType.Float32);
        var partialData = (nint)Data(partialX);
        var gradW = weightGradient ? empty(weight.shape, weight.dtype) : null;
        var (xData, wData, targetData, lseData) = (wideX is null ? 0 : (nint)Data(wideX), (nint)Data(weight), (nint)Data(targets), (nint)Data(logSumExp));
        var gradWData = gradW is null ? 0 : (nint)Data(gradW);
        // The forward's cut, where it kept sub-blocks (the settings may have changed since).
        var tiles = kept?.Tiles ?? new TokenTiles(tokens);
        var rows = kept?.Rows ?? SubBlockRows(tiles.Widest, native);
        Run(parts, vocabulary, rows, tiles.Widest, hidden, rounds, native ? (x, weight) : null, (part, first, last, scratch) =>
        {
            float* xAt = (float*)xData, lseAt = (float*)lseData;
            var targetAt = (long*)targetData;
            var gradX = (float*)partialData + (long)part * tokens * hidden;
            for (int start = first, index = 0; start < last; start += rows)
            {
                var length = Math.Min(rows, last - start);
                var w = scratch.Weights(wData, start, length, hidden);
                // float32 writes the weight gradient in place; bf16 sums it over the tiles in float32, then rounds it once.
                var gradWBlock = gradWData == 0 ? null : rounds ? scratch.WeightGradient : (float*)gradWData + (long)start * hidden;
                for (var tile = 0; tile < tiles.Count; tile++, index++)
                {
                    var (t0, n) = tiles[tile];
                    float* xTile = xAt + (long)t0 * hidden, lseTile = lseAt + t0;
                    var targetTile = targetAt + t0;
                    var slot = kept is null ? null : kept.Slot(part, index);
                    var block = scratch.Logits;
                    var products = scratch.Native;
                    if (products is not null && BFloat16HeadKernels.Supported)
                    {
                        // The gradient rounded to bf16 straight into the products' operand: from the kept logits, or over
                        // the logits the products write again there.
                        var gradient = products.GradientOperand(length, n);
                        var logits = slot != null ? (ushort*)slot : products.Logits(start, length, t0, n);
                        var logitsStride = slot != null ? kept!.Stride : n;
                        BFloat16HeadKernels.SoftmaxGradient(logits, logitsStride, length, n, start, targetTile, lseTile, gradientScale, gradient, scratch.Sums);
                        products.Gradients(start, length, t0, n, gradX + (long)t0 * hidden, gradWBlock, accumulate: tile > 0);
                        continue;
                    }
                    if (slot != null)
                        HeadKernels.KeptGradient((float*)slot, kept!.Stride, length, n, start, targetTile, kept.Reference(part, index), lseTile,
                            rounds, gradientScale, scratch.Sums, block);
                    else
                    {
                        if (products is not null)
                            products.Logits(start, length, t0, n, block);
                        else
                            MklGemm.Multiply(false, true, length, n, hidden, 1f, w, hidden, xTile, hidden, 0f, block, n);
                        HeadKernels.SoftmaxGradient(block, length, n, start, targetTile, lseTile, rounds, gradientScale, parallel: false);
                    }
                    if (products is not null)
                    {
                        products.Gradients(block, start, length, t0, n, gradX + (long)t0 * hidden, gradWBlock, accumulate: tile > 0);
                        continue;
                    }
                    MklGemm.Multiply(true, false, n, hidden, length, alpha, block, n, w, hidden, 1f, gradX + (long)t0 * hidden, hidden);
                    if (gradWBlock != null)
                        MklGemm.Multiply(false, false, length, hidden, n, alpha, block, n, xTile, hidden, tile == 0 ? 0f : 1f, gradWBlock, hidden);
                }
                if (gradWBlock != null && rounds)
                    ToBFloat16(scratch.WeightGradient, (ushort*)gradWData + (long)start * hidden, length * hidden);
            }
        });
        var gradX32 = partialX.sum([0L]);
        if (!rounds)
            return (gradX32, gradW);
        using (gradX32)
            return (gradX32.to(x.dtype), gradW);
    }

    /// <summary>
    /// Rows of one sub-block: about <see cref="SubBlockBytes"/> (<see cref="NativeSubBlockBytes"/> on libtorch's bf16
    /// products) of float32 logits of a tile, a multiple of 8, at least 16.
    /// </summary>
    private static int SubBlockRows(int tokens, bool native) =>
        (int)Math.Max(16, (native ? NativeSubBlockBytes.Value : SubBlockBytes.Value) / (4L * tokens) / 8 * 8);

    /// <summary>
    /// The tokens cut into tiles of at most <see cref="TileTokens"/> (boundaries on multiples of 8), each sub-block of
    /// the vocabulary taken one tile at a time: a sub-block of a few hundred tokens by a few hundred rows keeps all three
    /// products near MKL's peak, where one of 1024 tokens by 64 rows ran the input gradient's at 0.67 of it.
    /// </summary>
    internal readonly struct TokenTiles
    {
        private readonly int _tokens;

        public TokenTiles(int tokens)
        {
            _tokens = tokens;
            Count = Math.Max(1, (tokens + TileTokens.Value - 1) / TileTokens.Value);
            Widest = 0;
            for (var tile = 0; tile < Count; tile++)
                Widest = Math.Max(Widest, this[tile].Tokens);
        }

        public int Count { get; }

        /// <summary>Tokens of the widest tile.</summary>
        public int Widest { get; }

        /// <summary>First token and token count of tile <paramref name="tile"/>.</summary>
        public (int First, int Tokens) this[int tile] => (Boundary(tile), Boundary(tile + 1) - Boundary(tile));

        private int Boundary(int tile) => tile == Count ? _tokens : (int)((long)_tokens * tile / Count) / 8 * 8;
    }

    private static int Parts(int vocabulary) => Math.Max(1, Math.Min(get_num_threads(), vocabulary / 64));

    /// <summary>
    /// The vocabulary cut into <paramref name="parts"/> contiguous shares, each run on its own thread with
    /// single-threaded MKL and its own <see cref="Scratch"/>.
    /// </summary>
    /// <paramref name="native"/>: bf16 x and weight whose products run on libtorch's own bf16 GEMM (<see cref="NativeProducts"/>).
    private static void Run(int parts, int vocabulary, int rows, int tokens, int hidden, bool rounds, (Tensor X, Tensor Weight)? native,
        Action<int, int, int, Scratch> body)
    {
        void Part(int part)
        {
            using var single = native is null ? default : MklGemm.SingleOpenMpThread();
            using var noGrad = native is null ? null : no_grad();   // grad mode is per thread: the caller's no_grad does not reach a worker
            using var scratch = new Scratch(rows, tokens, hidden, rounds, native);
            var previous = MklGemm.SetThreadsForThisThread(1);
            try
            {
                body(part, (int)((long)vocabulary * part / parts), (int)((long)vocabulary * (part + 1) / parts), scratch);
            }
            finally
            {
                MklGemm.SetThreadsForThisThread(previous);
            }
        }
        if (parts == 1)
            Part(0);
        else
            Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, Part);
    }

    /// <summary>
    /// What the forward wrote of each logits sub-block for its backward: the first <see cref="PerPart"/> sub-blocks
    /// (one slot per token tile) of each thread's share, in the shared <see cref="LogitsArena"/>, leased until backward.
    /// On MKL's float32 products each is kept as float32 exp(x - m), m being each token's max over the sub-block
    /// (<see cref="HeadKernels.KeepExp"/>; rows <see cref="Stride"/> apart, each on a 32-byte boundary), so backward
    /// multiplies instead of taking an exp; the m are in <see cref="Reference"/>. bf16 logits are rounded before the exp,
    /// as the forward's sums take them. On libtorch's bf16 products (<see cref="KeepsBFloat16"/>) each keeps the bf16
    /// logits as the products wrote them (<see cref="BFloat16HeadKernels.ReduceLogits"/>), and backward forms the
    /// gradient from them as from logits it recomputes (<see cref="BFloat16HeadKernels.SoftmaxGradient"/>, the same bits):
    /// half the bytes, so twice the sub-blocks fit the budget, and neither kind widens the products' output to float32.
    /// bench `head --bf16 --fused-only` on a 2-core Zen 5, interleaved, float32 exp(x - m) and widened recomputation
    /// against bf16 logits throughout: 1024 x 64 0.191/0.202 s against 0.184/0.190, 4096 x 64 1.024/1.011 against
    /// 0.739/0.762, 8192 x 64 2.142/2.163 against 1.625/1.546; bench step 89M bf16 full, peak RSS 2,402 -> 2,191 MB.
    /// </summary>
    internal sealed class KeptLogits
    {
        private readonly object _holder;
        private readonly nint _data;
        private readonly long _slotElements;
        private readonly float[] _references;

        private readonly Tensor? _own;

        private KeptLogits(object holder, Tensor? own, nint data, int perPart, long slotElements, int stride, float[] references, int rows, TokenTiles tiles,
            bool keepsBFloat16) =>
            (_holder, _own, _data, PerPart, _slotElements, Stride, _references, Rows, Tiles, KeepsBFloat16) =
            (holder, own, data, perPart, slotElements, stride, references, rows, tiles, keepsBFloat16);

        /// <summary>Whether the slots hold bf16 logits (<see cref="BFloat16HeadKernels.ReduceLogits"/>) rather than float32 exp(x - m).</summary>
        public bool KeepsBFloat16 { get; }

        /// <summary>Rows of each sub-block.</summary>
        public int Rows { get; }

        /// <summary>The tokens' tiles, each sub-block kept as one slot per tile.</summary>
        public TokenTiles Tiles { get; }

        /// <summary>Slots kept of each thread's share.</summary>
        public int PerPart { get; }

        /// <summary>Elements from one kept row to the next: the widest tile's tokens rounded up to a multiple of 8.</summary>
        public int Stride { get; }

        /// <summary>
        /// As many slots per share as <see cref="FusedLinearCrossEntropy.KeptLogitsBytes"/> holds for all shares; null
        /// when that is none. <paramref name="wholeTile"/>: one slot for every
        /// sub-block of one tile (slot index = sub-block index, reused tile after tile), or null when the budget holds
        /// fewer (<see cref="ForwardWithGradients"/>). <paramref name="keepsBFloat16"/>: slots of bf16 logits.
        /// </summary>
        public static KeptLogits? Lease(int parts, int vocabulary, int rows, TokenTiles tiles, bool wholeTile = false, bool keepsBFloat16 = false)
        {
            var stride = (tiles.Widest + 7) / 8 * 8;
            var elementBytes = keepsBFloat16 ? sizeof(ushort) : sizeof(float);
            var slotElements = (long)rows * stride;
            var perShare = (int)((vocabulary / parts + 1 + rows - 1) / rows) * (wholeTile ? 1 : tiles.Count);
            var perPart = (int)Math.Min(perShare, FusedLinearCrossEntropy.KeptLogitsBytes.Value / (elementBytes * slotElements * parts));
            if (perPart == 0 || (wholeTile && perPart < perShare))
                return null;
            var holder = new object();
            // float32 elements of the arena: the slots, then room for the 32-byte alignment and for a bf16 pass's last
            // vector of sixteen, which may read past the last slot's last row.
            var elements = (parts * perPart * slotElements * elementBytes + 3) / 4 + 16;
            // Another call holds the shared arena (two losses before one backward, or heads running side by side, as
            // tests do): a buffer of this call's own, so that what is kept, and so every rounding, never depends on
            // who else is running (kept and recomputed sub-blocks round differently).
            Tensor? own = null;
            var arena = LogitsArena.Lease(elements, holder) ?? (own = empty(elements, ScalarType.Float32).DetachFromDisposeScope());
            var data = ((nint)Data(arena) + 31) & ~(nint)31;   // 32-byte aligned, as are the slots (rows a multiple of 8)
            var references = GC.AllocateUninitializedArray<float>(keepsBFloat16 ? 0 : parts * perPart * tiles.Widest, pinned: true);
            return new KeptLogits(holder, own, data, perPart, slotElements, stride, references, rows, tiles, keepsBFloat16);
        }

        /// <summary>Slot of sub-block <paramref name="index"/> of share <paramref name="part"/>, or null past the budget.</summary>
        public void* Slot(int part, int index) =>
            index >= PerPart ? null
            : KeepsBFloat16 ? (ushort*)_data + ((long)part * PerPart + index) * _slotElements
            : (float*)_data + ((long)part * PerPart + index) * _slotElements;

        /// <summary>Each token's max over a kept float32 sub-block (tokens).</summary>
        public float* Reference(int part, int index) =>
            (float*)Unsafe.AsPointer(ref _references[((long)part * PerPart + index) * Tiles.Widest]);

        public void Return()
        {
            if (_own is not null)
                _own.Dispose();
            else
                LogitsArena.Return(_holder);
        }
    }

    /// <summary>
    /// One thread's buffers: a logits sub-block and, for bf16 weights, a float32 weight-gradient sub-block and either
    /// their widened rows (float32 products) or <see cref="NativeProducts"/>.
    /// </summary>
    private sealed class Scratch : IDisposable
    {
        private readonly bool _widens;

        public Scratch(int rows, int tokens, int hidden, bool rounds, (Tensor X, Tensor Weight)? native)
        {
            _widens = rounds && native is null;
            Logits = Allocate((long)rows * tokens);
            Sums = Allocate(tokens);
            Maxima = Allocate(tokens);
            if (rounds)
                WeightGradient = Allocate((long)rows * hidden);
            if (_widens)
                WideWeights = Allocate((long)rows * hidden);
            if (native is { } bf16)
                Native = new NativeProducts(bf16.X, bf16.Weight, rows, tokens);
        }

        public NativeProducts? Native { get; }

        public float* Logits { get; }

        /// <summary>One float per token: a sub-block's sums of exp, or backward's factors.</summary>
        public float* Sums { get; }

        /// <summary>One float per token: a sub-block's maxima (<see cref="BFloat16HeadKernels.ReduceLogits"/>).</summary>
        public float* Maxima { get; }

        public float* WideWeights { get; }

        public float* WeightGradient { get; }

        /// <summary>Rows [start, start + length) of the (V, H) weight as float32: in place, or widened from bf16 into scratch.</summary>
        public float* Weights(nint weight, int start, int length, int hidden)
        {
            if (Native is not null)
                return null;
            if (!_widens)
                return (float*)weight + (long)start * hidden;
            FromBFloat16((ushort*)weight + (long)start * hidden, WideWeights, length * hidden);
            return WideWeights;
        }

        public void Dispose()
        {
            Native?.Dispose();
            NativeMemory.AlignedFree(Logits);
            NativeMemory.AlignedFree(Sums);
            NativeMemory.AlignedFree(Maxima);
            NativeMemory.AlignedFree(WideWeights);
            NativeMemory.AlignedFree(WeightGradient);
        }

        private static float* Allocate(long elements) => (float*)NativeMemory.AlignedAlloc((nuint)(elements * sizeof(float)), 64);
    }

    /// <summary>
    /// One thread's bf16 products on libtorch's own bf16 GEMM (oneDNN), each into a bf16 buffer made once: the logits
    /// rounded to bf16 as Hugging Face's are, the gradient products rounded per sub-block and summed in float32 (as the
    /// block path sums its blocks). The thread runs them on its own core (<see cref="MklGemm.SingleOpenMpThread"/>), as
    /// the float32 path runs single-threaded MKL. bench `gemm` on a 2-core Zen 5 (AVX512-BF16), both threads at once:
    /// 300 x 64 by 64 x 1024 at 600-690 GFLOP/s against 130-150 for MKL's float32; MKL's gemm_bf16bf16f32 and
    /// libtorch's bf16 x bf16 -> float32 cpublas::brgemm (which would spare the rounding) ran at float32's rate there.
    /// </summary>
    private sealed class NativeProducts : IDisposable
    {
        private readonly Tensor _x;
        private readonly Tensor _weight;
        private readonly Tensor _logits;
        private readonly Tensor _inputGradient;
        private readonly Tensor _weightGradient;
        private readonly int _hidden;
        // Views made once per buffer and shape: libtorch's view calls cost about as much as a small product's setup.
        private readonly Dictionary<(nint Buffer, long Rows, long Columns), Tensor> _views = [];
        private readonly Dictionary<(int First, int Tokens), (Tensor Tile, Tensor Transposed)> _tiles = [];

        public NativeProducts(Tensor x, Tensor weight, int rows, int tokens)
        {
            (_x, _weight, _hidden) = (x, weight, (int)x.shape[1]);
            _logits = empty((long)rows * tokens + BFloat16HeadKernels.Padding, ScalarType.BFloat16);
            _inputGradient = empty((long)tokens * _hidden, ScalarType.BFloat16);
            _weightGradient = empty((long)rows * _hidden, ScalarType.BFloat16);
        }

        /// <summary>Logits of weight rows [start, start + length) by tokens [t0, t0 + n), rounded to bf16, into (length, n) float32.</summary>
        public void Logits(int start, int length, int t0, int n, float* into) =>
            FromBFloat16(Logits(start, length, t0, n), into, length * n);

        /// <summary>Logits of weight rows [start, start + length) by tokens [t0, t0 + n): (length, n) bf16, valid until the next product.</summary>
        public ushort* Logits(int start, int length, int t0, int n)
        {
            using var w = _weight.narrow(0, start, length);
            var logits = View(_logits, length, n);
            logits.addmm_(w, Tile(t0, n).Transposed, beta: 0);
            return (ushort*)Data(logits);
        }

        /// <summary>Where the (length, n) bf16 gradient of the logits goes for <see cref="Gradients(int, int, int, int, float*, float*, bool)"/>.</summary>
        public ushort* GradientOperand(int length, int n) => (ushort*)Data(View(_logits, length, n));

        /// <summary>As <see cref="Gradients(int, int, int, int, float*, float*, bool)"/> from a gradient held as bf16 values in float32.</summary>
        public void Gradients(float* gradient, int start, int length, int t0, int n, float* gradX, float* gradW, bool accumulate)
        {
            ToBFloat16(gradient, GradientOperand(length, n), length * n);   // exact: the values are bf16 already
            Gradients(start, length, t0, n, gradX, gradW, accumulate);
        }

        /// <summary>
        /// From the (length, n) bf16 gradient of the logits in <see cref="GradientOperand"/>: gradX (n, H) float32 += G^T W_b,
        /// and the weight rows' gradient G X_tile written (or, <paramref name="accumulate"/>, added) to gradW (length, H) float32.
        /// </summary>
        public void Gradients(int start, int length, int t0, int n, float* gradX, float* gradW, bool accumulate)
        {
            var g = View(_logits, length, n);
            using var w = _weight.narrow(0, start, length);
            using var gT = g.t();
            var dx = View(_inputGradient, n, _hidden);
            dx.addmm_(gT, w, beta: 0);
            FromBFloat16((ushort*)Data(dx), gradX, n * _hidden, add: true);
            if (gradW == null)
                return;
            var dw = View(_weightGradient, length, _hidden);
            dw.addmm_(g, Tile(t0, n).Tile, beta: 0);
            FromBFloat16((ushort*)Data(dw), gradW, length * _hidden, add: accumulate);
        }

        private Tensor View(Tensor buffer, long rows, long columns)
        {
            if (!_views.TryGetValue((buffer.Handle, rows, columns), out var view))
            {
                using var flat = buffer.narrow(0, 0, rows * columns);
                _views[(buffer.Handle, rows, columns)] = view = flat.view(rows, columns);
            }
            return view;
        }

        private (Tensor Tile, Tensor Transposed) Tile(int first, int tokens)
        {
            if (!_tiles.TryGetValue((first, tokens), out var tile))
            {
                var rows = _x.narrow(0, first, tokens);
                _tiles[(first, tokens)] = tile = (rows, rows.t());
            }
            return tile;
        }

        public void Dispose()
        {
            foreach (var view in _views.Values)
                view.Dispose();
            foreach (var (rows, transposed) in _tiles.Values)
            {
                rows.Dispose();
                transposed.Dispose();
            }
            _logits.Dispose();
            _inputGradient.Dispose();
            _weightGradient.Dispose();
        }
    }

    /// <summary>destination[i] = source[i] widened from bf16 (<paramref name="add"/>: +=).</summary>
    private static void FromBFloat16(ushort* source, float* destination, int count, bool add = false)
    {
        if (BFloat16HeadKernels.Supported)
        {
            BFloat16HeadKernels.Widen(source, destination, count, add);
            return;
        }
        var width = Vector<ushort>.Count;
        var i = 0;
        for (; i + width <= count; i += width)
        {
            Vector.Widen(Unsafe.ReadUnaligned<Vector<ushort>>(source + i), out var low, out var high);
            var (first, second) = (Vector.AsVectorSingle(Vector.ShiftLeft(low, 16)), Vector.AsVectorSingle(Vector.ShiftLeft(high, 16)));
            if (add)
                (first, second) = (first + Unsafe.ReadUnaligned<Vector<float>>(destination + i), second + Unsafe.ReadUnaligned<Vector<float>>(destination + i + width / 2));
            Unsafe.WriteUnaligned(destination + i, first);
            Unsafe.WriteUnaligned(destination + i + width / 2, second);
        }
        for (; i < count; i++)
        {
            var value = BFloat16Bits.ToSingle(source[i]);
            destination[i] = add ? destination[i] + value : value;
        }
    }

    private static void ToBFloat16(float* source, ushort* destination, int count)
    {
        if (BFloat16HeadKernels.Supported)
        {
            BFloat16HeadKernels.Narrow(source, destination, count);
            return;
        }
        var width = Vector<float>.Count;
        var i = 0;
        for (; i + 2 * width <= count; i += 2 * width)
        {
            var low = BFloat16Bits.Round(Unsafe.ReadUnaligned<Vector<float>>(source + i));
            var high = BFloat16Bits.Round(Unsafe.ReadUnaligned<Vector<float>>(source + i + width));
            Unsafe.WriteUnaligned(destination + i, Vector.Narrow(low, high));
        }
        for (; i < count; i++)
            destination[i] = BFloat16Bits.Round(source[i]);
    }

    private static float* Data(Tensor tensor) => (float*)Checkpoints.TensorMemory.DataPointer(tensor);
}
