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
    internal static bool Enabled { get; set; } = true;

    public static bool Supported => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// Folds the logits block l (length x tokens, row j = vocabulary id start + j) into each token's running max and
    /// sum of exp; rounds the block to bf16 first (in place) when <paramref name="roundToBFloat16"/>, and records the
    /// logit of each token whose target falls in the block. A NaN or infinite logit makes its token's sum NaN. One
    /// pass over the block: each thread streams its rows keeping an online max and sum per token, rescaling a sum only
    /// when its max grows; the threads' partial sums are then merged in order.
    /// </summary>
    public static void Reduce(float* logits, int length, int tokens, long start, long* targets, bool roundToBFloat16,
        float* runningMax, float* runningSum, float* targetLogit)
    {
        var parts = Parts(length, 1);
        var partialMax = new float[parts * tokens];
        var partialSum = new float[parts * tokens];
        Array.Fill(partialMax, float.NegativeInfinity);
        ForEachPart(length, 1, parts, (part, first, count) =>
        {
            fixed (float* max = &partialMax[part * tokens])
            fixed (float* sum = &partialSum[part * tokens])
                ReduceRows(logits + (long)first * tokens, count, tokens, roundToBFloat16, max, sum);
        });
        fixed (float* max = partialMax)
        fixed (float* sum = partialSum)
            for (var part = 0; part < parts; part++)
                MergeInto(runningMax, runningSum, max + part * tokens, sum + part * tokens, tokens);
        for (var t = 0; t < tokens; t++)
        {
            var local = targets[t] - start;
            if (local >= 0 && local < length)
                targetLogit[t] = logits[local * tokens + t];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ReduceRows(float* rows, int count, int tokens, bool roundToBFloat16, float* max, float* sum)
    {
        var vectorTokens = tokens / Lanes * Lanes;
        for (var j = 0; j < count; j++)
        {
            var row = rows + (long)j * tokens;
            for (var t = 0; t < vectorTokens; t += Lanes)
            {
                var x = Avx.LoadVector256(row + t);
                if (roundToBFloat16)
                {
                    x = RoundToBFloat16(x);
                    Avx.Store(row + t, x);
                }
                Accumulate(max + t, sum + t, x);
            }
            for (var t = vectorTokens; t < tokens; t++)
            {
                var x = Vector256.Create(row[t]);
                if (roundToBFloat16)
                {
                    x = RoundToBFloat16(x);
                    row[t] = x.ToScalar();
                }
                var (m, s) = (Vector256.Create(max[t]), Vector256.Create(sum[t]));
                var newMax = Avx.Max(m, x);
                s = Fma.MultiplyAdd(x, Vector256<float>.Zero, s * Exp(m - newMax) + Exp(x - newMax));
                (max[t], sum[t]) = (newMax.ToScalar(), s.ToScalar());
            }
        }
    }

    /// <summary>One row's eight logits into the online (max, sum): the sum is rescaled only where the max grew.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Accumulate(float* maxAt, float* sumAt, Vector256<float> x)
    {
        var max = Avx.LoadVector256(maxAt);
        var sum = Avx.LoadVector256(sumAt);
        var newMax = Avx.Max(max, x);
        if (Avx.MoveMask(Avx.CompareNotEqual(newMax, max)) != 0)
        {
            sum *= Exp(max - newMax);
            Avx.Store(maxAt, newMax);
        }
        Avx.Store(sumAt, Fma.MultiplyAdd(x, Vector256<float>.Zero, sum + Exp(x - newMax)));   // x * 0: NaN for a NaN or infinite x
    }

    /// <summary>(M, S) &lt;- (max(M, m), S e^(M - max) + s e^(m - max)) per token.</summary>
    private static void MergeInto(float* runningMax, float* runningSum, float* max, float* sum, int tokens)
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
    /// forward did); float32 leaves the scale to the products.
    /// </summary>
    public static void SoftmaxGradient(float* logits, int length, int tokens, long start, long* targets, float* logSumExp,
        bool roundToBFloat16, float scale)
    {
        var targetValues = new float[tokens];
        for (var t = 0; t < tokens; t++)
        {
            var local = targets[t] - start;
            if (local >= 0 && local < length)
                targetValues[t] = logits[local * tokens + t];
        }
        ForEachPart(length, 1, Parts(length, 1), (_, first, count) => GradientRows(logits, first, count, tokens, logSumExp, roundToBFloat16, scale));
        for (var t = 0; t < tokens; t++)
        {
            var local = targets[t] - start;
            if (local >= 0 && local < length)
                logits[local * tokens + t] = Gradient(Vector256.Create(targetValues[t]), Vector256.Create(logSumExp[t]),
                    Vector256<float>.One, roundToBFloat16, Vector256.Create(scale)).ToScalar();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void GradientRows(float* logits, int first, int count, int tokens, float* logSumExp, bool roundToBFloat16, float scale)
    {
        var scaleVector = Vector256.Create(scale);
        for (var j = first; j < first + count; j++)
        {
            var row = logits + (long)j * tokens;
            var t = 0;
            for (; t + Lanes <= tokens; t += Lanes)
                Avx.Store(row + t, Gradient(Avx.LoadVector256(row + t), Avx.LoadVector256(logSumExp + t), Vector256<float>.Zero,
                    roundToBFloat16, scaleVector));
            for (; t < tokens; t++)
                row[t] = Gradient(Vector256.Create(row[t]), Vector256.Create(logSumExp[t]), Vector256<float>.Zero,
                    roundToBFloat16, scaleVector).ToScalar();
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Gradient(Vector256<float> logit, Vector256<float> logSumExp, Vector256<float> oneHot,
        bool roundToBFloat16, Vector256<float> scale)
    {
        if (!roundToBFloat16)
            return Exp(logit - logSumExp) - oneHot;
        return RoundToBFloat16((Exp(RoundToBFloat16(logit) - logSumExp) - oneHot) * scale);
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
    /// ln of the smallest normal float give 0, as do -infinity.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Exp(Vector256<float> x)
    {
        var lowest = Vector256.Create(-87.33654f);
        var underflows = Avx.CompareLessThan(x, lowest);
        x = Avx.Min(Avx.Max(x, lowest), Vector256.Create(88.37626f));
        var n = Avx.RoundToNearestInteger(x * Vector256.Create(1.44269504088896341f));
        var r = Fma.MultiplyAddNegated(n, Vector256.Create(0.693359375f), x);
        r = Fma.MultiplyAddNegated(n, Vector256.Create(-2.12194440e-4f), r);
        var p = Vector256.Create(1.9875691500e-4f);
        p = Fma.MultiplyAdd(p, r, Vector256.Create(1.3981999507e-3f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(8.3334519073e-3f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(4.1665795894e-2f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(1.6666665459e-1f));
        p = Fma.MultiplyAdd(p, r, Vector256.Create(5.0000001201e-1f));
        p = Fma.MultiplyAdd(p, r * r, r + Vector256<float>.One);
        var power = Avx2.ShiftLeftLogical(Avx2.Add(Avx.ConvertToVector256Int32(n), Vector256.Create(127)), 23).AsSingle();
        return Avx.AndNot(underflows, p * power);
    }

    /// <summary>Float32 rounded to the nearest bf16 (<see cref="BFloat16Bits"/>), kept as float32.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> RoundToBFloat16(Vector256<float> values) =>
        Vector.ShiftLeft(BFloat16Bits.Round(values.AsVector()), 16).AsVector256().AsSingle();
}
