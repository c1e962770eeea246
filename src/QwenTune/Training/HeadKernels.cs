using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// The element-wise half of the fused loss head on the CPU, in one pass over each logits block where libtorch's ops
/// take six to ten (round, max, subtract, exp, sum; exp, one-hot, scale, round): AVX2 + FMA over blocks stored
/// vocabulary-major, (Vb, T), eight tokens to a vector, each thread streaming its own rows. The passes are bound by
/// memory bandwidth, not arithmetic: a block is read once in forward and read and written once in backward.
/// </summary>
internal static unsafe class HeadKernels
{
    /// <summary>Blocks are whole multiples of this many vocabulary rows.</summary>
    public const int SliceRows = 512;

    private const int Lanes = 8;

    /// <summary>Off: every block takes libtorch's ops (tests compare the two; bench `head` times both).</summary>
    internal static readonly ThreadTunable<bool> Enabled = new(true);   // per thread, as the head's other knobs

    public static bool Supported => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// Folds the logits block l (length x tokens, row j = vocabulary id start + j) into each token's running max and
    /// sum of exp; rounds the block to bf16 first (in place) when <paramref name="roundToBFloat16"/>, and records the
    /// logit of each token whose target falls in the block. A NaN or infinite logit makes its token's sum NaN. Each
    /// thread takes its own rows a chunk at a time (<see cref="ReduceRows"/>) into a partial max and sum per token;
    /// the threads' partials are then merged in order.
    /// </summary>
    public static void Reduce(float* logits, int length, int tokens, long start, long* targets, bool roundToBFloat16,
        float* runningMax, float* runningSum, float* targetLogit) =>
        Reduce(new Float32LogitsBlock(logits, roundToBFloat16), length, tokens, start, targets, runningMax, runningSum, targetLogit);

    /// <summary>As <see cref="Reduce(float*, int, int, long, long*, bool, float*, float*, float*)"/> over a bf16 block (libtorch's bf16 products).</summary>
    public static void Reduce(ushort* logits, int length, int tokens, long start, long* targets,
        float* runningMax, float* runningSum, float* targetLogit) =>
        Reduce(new BFloat16LogitsBlock(logits), length, tokens, start, targets, runningMax, runningSum, targetLogit);

    private static void Reduce<TBlock>(TBlock logits, int length, int tokens, long start, long* targets,
        float* runningMax, float* runningSum, float* targetLogit) where TBlock : struct, ILogitsBlock
    {
        var parts = Parts(length, 1);
        var partialMax = new float[parts * tokens];
        var partialSum = new float[parts * tokens];
        Array.Fill(partialMax, float.NegativeInfinity);
        ForEachPart(length, 1, parts, (part, first, count) =>
        {
            fixed (float* max = &partialMax[part * tokens])
            fixed (float* sum = &partialSum[part * tokens])
                ReduceRows(logits, (long)first * tokens, count, tokens, max, sum);
        });
        fixed (float* max = partialMax)
        fixed (float* sum = partialSum)
            for (var part = 0; part < parts; part++)
                MergeInto(runningMax, runningSum, max + part * tokens, sum + part * tokens, tokens);
        CopyTargetLogits(logits, length, tokens, start, targets, targetLogit);
    }

    /// <summary>
    /// targetLogit[t] = the block's logit at token t's target, for each token whose target lies in the block's rows
    /// [start, start + length) (a block of length x tokens); the others are left as they are.
    /// </summary>
    internal static void CopyTargetLogits(float* logits, int length, int tokens, long start, long* targets, float* targetLogit) =>
        CopyTargetLogits(new Float32LogitsBlock(logits, false), length, tokens, start, targets, targetLogit);

    private static void CopyTargetLogits<TBlock>(TBlock logits, int length, int tokens, long start, long* targets, float* targetLogit)
        where TBlock : struct, ILogitsBlock
    {
        for (var t = 0; t < tokens; t++)
        {
            var local = targets[t] - start;
            if (local >= 0 && local < length)
                targetLogit[t] = logits.ReadOne(local * tokens + t).ToScalar();
        }
    }

    /// <summary>Rows per chunk of <see cref="ReduceRows"/>: a chunk of a few hundred tokens stays in L1 between its two sweeps.</summary>
    private const int ChunkRows = 16;

    /// <summary>
    /// Folds <paramref name="count"/> rows into (max, sum) per token, <see cref="ChunkRows"/> rows at a time: per eight
    /// tokens, the chunk's max first (rounding to bf16 on the way when asked), then the sum of exp(x - max) in a
    /// register, so the running sum is rescaled once per chunk rather than compared row by row.
    /// </summary>
    internal static void ReduceRows(float* rows, int count, int tokens, bool roundToBFloat16, float* max, float* sum) =>
        ReduceRows(new Float32LogitsBlock(rows, roundToBFloat16), 0, count, tokens, max, sum);

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ReduceRows<TBlock>(TBlock block, long offset, int count, int tokens, float* max, float* sum) where TBlock : struct, ILogitsBlock
    {
        var vectorTokens = tokens / Lanes * Lanes;
        for (var first = 0; first < count; first += ChunkRows)
        {
            var chunk = offset + (long)first * tokens;
            var n = Math.Min(ChunkRows, count - first);
            for (var t = 0; t < vectorTokens; t += Lanes)
            {
                var chunkMax = Vector256.Create(float.NegativeInfinity);
                for (var j = 0; j < n; j++)
                    chunkMax = Avx.Max(chunkMax, block.Read(chunk + (long)j * tokens + t));
                var oldMax = Avx.LoadVector256(max + t);
                var newMax = Avx.Max(oldMax, chunkMax);
                var chunkSum = ChunkSum(block, chunk + t, n, tokens, newMax, Lanes);
                Avx.Store(sum + t, Fma.MultiplyAdd(Avx.LoadVector256(sum + t), Exp(oldMax - newMax), chunkSum));
                Avx.Store(max + t, newMax);
            }
            for (var t = vectorTokens; t < tokens; t++)
            {
                var chunkMax = Vector256.Create(float.NegativeInfinity);
                for (var j = 0; j < n; j++)
                    chunkMax = Avx.Max(chunkMax, block.ReadOne(chunk + (long)j * tokens + t));
                var oldMax = Vector256.Create(max[t]);
                var newMax = Avx.Max(oldMax, chunkMax);
                var chunkSum = ChunkSum(block, chunk + t, n, tokens, newMax, 1);
                sum[t] = Fma.MultiplyAdd(Vector256.Create(sum[t]), Exp(oldMax - newMax), chunkSum).ToScalar();
                max[t] = newMax.ToScalar();
            }
        }
    }

    /// <summary>
    /// The sum of exp(x - max) over a chunk's rows, for eight tokens (<paramref name="width"/> 8) or one broadcast (1,
    /// the scalar tail); x * 0 makes a NaN or infinite logit's sum NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ChunkSum<TBlock>(TBlock block, long column, int rows, int tokens, Vector256<float> newMax, int width)
        where TBlock : struct, ILogitsBlock
    {
        var total = Vector256<float>.Zero;
        for (var j = 0; j < rows; j++)
        {
            var at = column + (long)j * tokens;
            var x = width == Lanes ? block.ReadAgain(at) : block.ReadOneAgain(at);
            total = Fma.MultiplyAdd(x, Vector256<float>.Zero, total + ExpNonPositive(x - newMax));
        }
        return total;
    }

    /// <summary>
    /// For a logits block whose backward reads what forward kept: per token, the block's max m (into
    /// <paramref name="reference"/>) and the sum of exp(x - m) (into <paramref name="sum"/>), while each exp(x - m) is
    /// written as float32 to <paramref name="kept"/> (rows <paramref name="keptStride"/> apart, each on a 32-byte
    /// boundary), so backward needs one multiply per logit instead of an exp (<see cref="KeptGradient"/>). With
    /// <paramref name="roundToBFloat16"/> the logits are rounded to bf16 first, in place. Rows are walked in memory
    /// order. Plain stores: streaming ones ran this pass 2.5 times slower here. A NaN or infinite logit makes its token's
    /// sum NaN.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void KeepExp(float* logits, int length, int tokens, bool roundToBFloat16, float* reference, float* sum, float* kept, int keptStride)
    {
        var vectorTokens = tokens / Lanes * Lanes;
        new Span<float>(reference, tokens).Fill(float.NegativeInfinity);
        new Span<float>(sum, tokens).Clear();
        for (var j = 0; j < length; j++)
        {
            var row = logits + (long)j * tokens;
            var t = 0;
            for (; t < vectorTokens; t += Lanes)
            {
                var x = Avx.LoadVector256(row + t);
                if (roundToBFloat16)
                {
                    x = RoundToBFloat16(x);
                    Avx.Store(row + t, x);
                }
                Avx.Store(reference + t, Avx.Max(Avx.LoadVector256(reference + t), x));
            }
            for (; t < tokens; t++)
            {
                if (roundToBFloat16)
                    row[t] = RoundToBFloat16(Vector256.Create(row[t])).ToScalar();
                reference[t] = MathF.Max(reference[t], row[t]);
            }
        }
        for (var j = 0; j < length; j++)
        {
            float* row = logits + (long)j * tokens, keptRow = kept + (long)j * keptStride;
            var t = 0;
            for (; t < vectorTokens; t += Lanes)
            {
                var x = Avx.LoadVector256(row + t);
                var e = ExpNonPositive(x - Avx.LoadVector256(reference + t));
                Avx.Store(sum + t, Fma.MultiplyAdd(x, Vector256<float>.Zero, Avx.LoadVector256(sum + t) + e));
                Avx.StoreAligned(keptRow + t, e);
            }
            for (; t < tokens; t++)
            {
                var x = Vector256.Create(row[t]);
                var e = ExpNonPositive(x - Vector256.Create(reference[t]));
                sum[t] = Fma.MultiplyAdd(x, Vector256<float>.Zero, Vector256.Create(sum[t]) + e).ToScalar();
                keptRow[t] = e.ToScalar();
            }
        }
    }

    /// <summary>
    /// The logits' gradient softmax - one-hot into <paramref name="gradient"/> (length x tokens) from what
    /// <see cref="KeepExp"/> kept: exp(x - m) e^(m - lse) per logit, <paramref name="factor"/> (tokens) taking
    /// e^(m - lse) per token; as <see cref="SoftmaxGradient"/>, times <paramref name="scale"/> and rounded to bf16 when
    /// <paramref name="roundToBFloat16"/> (float32 leaves the scale to the products).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void KeptGradient(float* kept, int keptStride, int length, int tokens, long start, long* targets,
        float* reference, float* logSumExp, bool roundToBFloat16, float scale, float* factor, float* gradient)
    {
        var vectorTokens = tokens / Lanes * Lanes;
        var t = 0;
        for (; t < vectorTokens; t += Lanes)
            Avx.Store(factor + t, Exp(Avx.LoadVector256(reference + t) - Avx.LoadVector256(logSumExp + t)));
        for (; t < tokens; t++)
            factor[t] = Exp(Vector256.Create(reference[t] - logSumExp[t])).ToScalar();
        var scaleVector = Vector256.Create(scale);
        for (var j = 0; j < length; j++)
        {
            float* keptRow = kept + (long)j * keptStride, row = gradient + (long)j * tokens;
            for (t = 0; t < vectorTokens; t += Lanes)
            {
                var p = Avx.LoadAlignedVector256(keptRow + t) * Avx.LoadVector256(factor + t);
                Avx.Store(row + t, roundToBFloat16 ? RoundToBFloat16(p * scaleVector) : p);
            }
            for (; t < tokens; t++)
            {
                var p = Vector256.Create(keptRow[t] * factor[t]);
                row[t] = (roundToBFloat16 ? RoundToBFloat16(p * scaleVector) : p).ToScalar();
            }
        }
        for (t = 0; t < tokens; t++)
        {
            var local = targets[t] - start;
            if (local < 0 || local >= length)
                continue;
            var p = Vector256.Create(kept[local * keptStride + t] * factor[t]) - Vector256<float>.One;
            gradient[local * tokens + t] = (roundToBFloat16 ? RoundToBFloat16(p * scaleVector) : p).ToScalar();
        }
    }

    /// <summary>(M, S) &lt;- (max(M, m), S e^(M - max) + s e^(m - max)) per token.</summary>
    internal static void MergeInto(float* runningMax, float* runningSum, float* max, float* sum, int tokens)
    {
        var t = 0;
        for (; t + Lanes <= tokens; t += Lanes)
            Merge(runningMax + t, runningSum + t, Avx.LoadVector256(max + t), Avx.LoadVector256(sum + t));
        for (; t < tokens; t++)
        {
            var (oldMax, m) = (Vector256.Create(runningMax[t]), Vector256.Create(max[t]));
            var newMax = Avx.Max(oldMax, m);
            runningSum[t] = (Vector256.Create(runningSum[t]) * Exp(oldMax - newMax) + Vector256.Create(sum[t]) * Exp(m - newMax)).ToScalar();
            runningMax[t] = newMax.ToScalar();
        }
    }

    /// <summary>
    /// Turns the logits block into the logits' gradient in place: softmax - one-hot, times <paramref name="scale"/>
    /// and rounded to bf16 when <paramref name="roundToBFloat16"/> (which also rounds the logits first, as the
    /// forward did); float32 leaves the scale to the products. <paramref name="parallel"/> false: on the calling thread
    /// alone (<see cref="ThreadedHead"/>, whose threads each own a share of the vocabulary).
    /// </summary>
    public static void SoftmaxGradient(float* logits, int length, int tokens, long start, long* targets, float* logSumExp,
        bool roundToBFloat16, float scale, bool parallel = true) =>
        SoftmaxGradient(new Float32LogitsBlock(logits, roundToBFloat16), length, tokens, start, targets, logSumExp, scale, parallel);

    /// <summary>As the float32 overload over a bf16 block: the gradient, scaled and rounded, written over it as bf16.</summary>
    public static void SoftmaxGradient(ushort* logits, int length, int tokens, long start, long* targets, float* logSumExp, float scale) =>
        SoftmaxGradient(new BFloat16LogitsBlock(logits), length, tokens, start, targets, logSumExp, scale, parallel: true);

    private static void SoftmaxGradient<TBlock>(TBlock logits, int length, int tokens, long start, long* targets, float* logSumExp,
        float scale, bool parallel) where TBlock : struct, ILogitsBlock
    {
        var targetValues = new float[tokens];
        fixed (float* values = targetValues)
            CopyTargetLogits(logits, length, tokens, start, targets, values);
        ForEachPart(length, 1, parallel ? Parts(length, 1) : 1, (_, first, count) => GradientRows(logits, first, count, tokens, logSumExp, scale));
        for (var t = 0; t < tokens; t++)
        {
            var local = targets[t] - start;
            if (local >= 0 && local < length)
                logits.WriteOne(local * tokens + t, Gradient(logits, Vector256.Create(targetValues[t]), Vector256.Create(logSumExp[t]),
                    Vector256<float>.One, Vector256.Create(scale)));
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GradientRows<TBlock>(TBlock logits, int first, int count, int tokens, float* logSumExp, float scale)
        where TBlock : struct, ILogitsBlock
    {
        var scaleVector = Vector256.Create(scale);
        for (var j = first; j < first + count; j++)
        {
            var row = (long)j * tokens;
            var t = 0;
            for (; t + Lanes <= tokens; t += Lanes)
                logits.Write(row + t, Gradient(logits, logits.Read(row + t), Avx.LoadVector256(logSumExp + t), Vector256<float>.Zero, scaleVector));
            for (; t < tokens; t++)
                logits.WriteOne(row + t, Gradient(logits, logits.ReadOne(row + t), Vector256.Create(logSumExp[t]), Vector256<float>.Zero, scaleVector));
        }
    }

    /// <summary>softmax - one-hot of a logit as the block holds it, times the scale where the block rounds (its write rounds).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Gradient<TBlock>(TBlock block, Vector256<float> logit, Vector256<float> logSumExp, Vector256<float> oneHot,
        Vector256<float> scale) where TBlock : struct, ILogitsBlock
    {
        var gradient = ExpNonPositive(logit - logSumExp) - oneHot;
        return block.RoundsToBFloat16 ? gradient * scale : gradient;
    }

    /// <summary>(M, S) &lt;- (max(M, m), S e^(M - max) + s e^(m - max)) for eight tokens.</summary>
    private static void Merge(float* runningMax, float* runningSum, Vector256<float> max, Vector256<float> sum)
    {
        var oldMax = Avx.LoadVector256(runningMax);
        var newMax = Avx.Max(oldMax, max);
        Avx.Store(runningSum, Avx.LoadVector256(runningSum) * Exp(oldMax - newMax) + sum * Exp(max - newMax));
        Avx.Store(runningMax, newMax);
    }

    /// <summary>How many parts <see cref="ForEachPart"/> cuts [0, count) into: one per torch thread, at most one per unit.</summary>
    private static int Parts(int count, int unit) => Math.Max(1, Math.Min(get_num_threads(), (count + unit - 1) / unit));

    /// <summary>[0, count) cut into <paramref name="parts"/> contiguous parts, boundaries on multiples of <paramref name="unit"/>.</summary>
    private static void ForEachPart(int count, int unit, int parts, Action<int, int, int> body)
    {
        var units = (count + unit - 1) / unit;
        if (parts <= 1)
        {
            body(0, 0, count);
            return;
        }
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
        {
            var first = (int)((long)units * part / parts) * unit;
            var last = Math.Min(count, (int)((long)units * (part + 1) / parts) * unit);
            body(part, first, last - first);
        });
    }

    /// <summary>
    /// e^x to within about one unit in the last place (Cephes' expf polynomial after reducing by n ln 2); inputs below
    /// ln of the smallest normal float give 0, as do -infinity. Written for a short dependency chain, which bounds
    /// these passes on this CPU more than the operation count does: n comes from adding 1.5 x 2^23 (whose low bits then
    /// hold n + 127, the exponent of 2^n), and the polynomial is evaluated in Estrin's order instead of Horner's.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Exp(Vector256<float> x)
    {
        var lowest = Vector256.Create(ExpPolynomial.Lowest);
        var underflows = Avx.CompareLessThan(x, lowest);
        return Avx.AndNot(underflows, ExpInRange(Avx.Min(Avx.Max(x, lowest), Vector256.Create(88.37626f))));
    }

    /// <summary>
    /// e^x for x &lt;= 0 (a logit less its token's max), as <see cref="Exp"/> but cheaper: inputs below ln of the smallest
    /// normal float give that float (about 1.2e-38) instead of 0, and NaN gives it too (the passes that use this add
    /// x * 0 to their sums to keep a NaN).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> ExpNonPositive(Vector256<float> x) => ExpInRange(Avx.Max(x, Vector256.Create(ExpPolynomial.Lowest)));

    /// <summary>
    /// The constants of <see cref="ExpInRange"/>, shared with the AVX-512 passes (<see cref="BFloat16HeadKernels"/>),
    /// which must compute every lane's exp with the same bits.
    /// </summary>
    internal static class ExpPolynomial
    {
        /// <summary>ln of the smallest normal float: below it, <see cref="Exp"/> gives 0.</summary>
        public const float Lowest = -87.33654f;
        public const float Shifter = 12_583_039f;                 // 1.5 x 2^23 + 127
        public const float Log2E = 1.44269504088896341f;
        public const float Ln2High = 0.693359375f;                // ln 2 in two parts
        public const float Ln2Low = -2.12194440e-4f;
        public const float C2 = 5.0000001201e-1f;                 // coefficients of r^2 .. r^7
        public const float C3 = 1.6666665459e-1f;
        public const float C4 = 4.1665795894e-2f;
        public const float C5 = 8.3334519073e-3f;
        public const float C6 = 1.3981999507e-3f;
        public const float C7 = 1.9875691500e-4f;
    }

    /// <summary>The polynomial and scaling of <see cref="Exp"/>, for x already within [ln of the smallest normal, ln of the largest float].</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> ExpInRange(Vector256<float> x)
    {
        var shifter = Vector256.Create(ExpPolynomial.Shifter);
        var shifted = Fma.MultiplyAdd(x, Vector256.Create(ExpPolynomial.Log2E), shifter);
        var n = shifted - shifter;                                                    // round(x / ln 2)
        var r = Fma.MultiplyAddNegated(n, Vector256.Create(ExpPolynomial.Ln2High), x);
        r = Fma.MultiplyAddNegated(n, Vector256.Create(ExpPolynomial.Ln2Low), r);
        var r2 = r * r;
        var low = Fma.MultiplyAdd(Vector256.Create(ExpPolynomial.C3), r, Vector256.Create(ExpPolynomial.C2));
        var middle = Fma.MultiplyAdd(Vector256.Create(ExpPolynomial.C5), r, Vector256.Create(ExpPolynomial.C4));
        var high = Fma.MultiplyAdd(Vector256.Create(ExpPolynomial.C7), r, Vector256.Create(ExpPolynomial.C6));
        var p = Fma.MultiplyAdd(high, r2 * r2, Fma.MultiplyAdd(middle, r2, low));
        p = Fma.MultiplyAdd(p, r2, r + Vector256<float>.One);
        return p * Avx2.ShiftLeftLogical(shifted.AsInt32(), 23).AsSingle();        // times 2^n
    }

    /// <summary>Float32 rounded to the nearest bf16 (<see cref="BFloat16Bits"/>), kept as float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> RoundToBFloat16(Vector256<float> values) =>
        Vector.ShiftLeft(BFloat16Bits.Round(values.AsVector()), 16).AsVector256().AsSingle();
}
