using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenTune.Models;

namespace QwenTune.Training;

/// <summary>
/// The loss head's passes over bf16 logits as libtorch's bf16 products write them (<see cref="ThreadedHead"/> on CPUs
/// with AVX512-BF16, which all have AVX-512): read and written as bf16, sixteen tokens to a 512-bit vector. The
/// <see cref="HeadKernels"/> passes they replace there took float32 blocks widened from the products' bf16 output, and
/// a float32 gradient narrowed again for the products: the same per-element arithmetic (the same exp polynomial, the
/// same rounding) over half the bytes, in one pass fewer each way, so every token gets the bits it got there. The
/// tokens past the last multiple of sixteen take one more vector (the blocks carry padding for it to read).
/// </summary>
internal static unsafe class BFloat16HeadKernels
{
    private const int Lanes = 16;

    /// <summary>
    /// bf16 elements after every block these passes take that they may read: the tokens past the last multiple of
    /// sixteen take one whole vector, of which only the row's own lanes are written.
    /// </summary>
    public const int Padding = Lanes;

    public static bool Supported => Avx512F.IsSupported && Avx512BW.IsSupported && Fma.IsSupported;

    /// <summary>
    /// The forward's pass over a sub-block of bf16 logits (length x tokens, rows <paramref name="tokens"/> apart, then
    /// <see cref="Padding"/> readable elements): per token the sub-block's max m (into <paramref name="max"/>) and the
    /// sum of exp(x - m) (into <paramref name="sum"/>), with <see cref="HeadKernels.KeepExp"/>'s arithmetic; where
    /// <paramref name="kept"/> is not null, the logits are also copied there as they are (rows
    /// <paramref name="keptStride"/> apart) for backward's <see cref="SoftmaxGradient"/>. Half the bytes of keeping
    /// float32 exp(x - m), and a kept sub-block's gradient is then the one recomputing its logits gives.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void ReduceLogits(ushort* logits, int length, int tokens, float* max, float* sum, ushort* kept, int keptStride)
    {
        var (vectorTokens, tail) = (tokens / Lanes * Lanes, Tail(tokens));
        new Span<float>(max, tokens).Fill(float.NegativeInfinity);
        new Span<float>(sum, tokens).Clear();
        for (var j = 0; j < length; j++)
        {
            var row = logits + (long)j * tokens;
            var t = 0;
            for (; t < vectorTokens; t += Lanes)
                Avx512F.Store(max + t, Avx512F.Max(Avx512F.LoadVector512(max + t), BFloat16Bits.LoadSixteen(row + t)));
            if (t < tokens)
                Avx512F.MaskStore(max + t, tail, Avx512F.Max(Avx512F.MaskLoad(max + t, tail, default), BFloat16Bits.LoadSixteen(row + t)));
        }
        for (var j = 0; j < length; j++)
        {
            var row = logits + (long)j * tokens;
            var keptRow = kept + (long)j * keptStride;
            var t = 0;
            for (; t < vectorTokens; t += Lanes)
            {
                var bits = Avx.LoadVector256(row + t);
                var x = BFloat16Bits.Widen(bits);
                var e = ExpNonPositive(x - Avx512F.LoadVector512(max + t));
                Avx512F.Store(sum + t, Avx512F.FusedMultiplyAdd(x, Vector512<float>.Zero, Avx512F.LoadVector512(sum + t) + e));
                if (kept != null)
                    Avx.Store(keptRow + t, bits);
            }
            if (t < tokens)
            {
                var x = BFloat16Bits.LoadSixteen(row + t);   // lanes past the row read the next row or the padding, and are not stored
                var e = ExpNonPositive(x - Avx512F.MaskLoad(max + t, tail, default));
                Avx512F.MaskStore(sum + t, tail, Avx512F.FusedMultiplyAdd(x, Vector512<float>.Zero, Avx512F.MaskLoad(sum + t, tail, default) + e));
                if (kept != null)
                    new ReadOnlySpan<ushort>(row + t, tokens - t).CopyTo(new Span<ushort>(keptRow + t, tokens - t));
            }
        }
    }

    /// <summary>
    /// The logits' gradient (softmax - one-hot) times <paramref name="scale"/>, rounded to bf16, from bf16 logits (length
    /// x tokens, rows <paramref name="logitsStride"/> apart, then <see cref="Padding"/> readable elements) into
    /// <paramref name="gradient"/> (rows <paramref name="tokens"/> apart; it may be the logits themselves when their
    /// stride is <paramref name="tokens"/>): each element exp(x - lse) - one-hot with
    /// <see cref="HeadKernels.SoftmaxGradient(float*, int, int, long, long*, float*, bool, float, bool)"/>'s arithmetic on
    /// sixteen lanes, so logits kept by <see cref="ReduceLogits"/> and logits the products wrote again give the same bits.
    /// <paramref name="targetLogit"/> (tokens) is scratch.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SoftmaxGradient(ushort* logits, int logitsStride, int length, int tokens, long start, long* targets,
        float* logSumExp, float scale, ushort* gradient, float* targetLogit)
    {
        // Read before the rows are written: in place, a target's logit would be gone.
        for (var t = 0; t < tokens; t++)
        {
            var local = targets[t] - start;
            if (local >= 0 && local < length)
                targetLogit[t] = BFloat16Bits.ToSingle(logits[local * logitsStride + t]);
        }
        var (vectorTokens, tail) = (tokens / Lanes * Lanes, Tail(tokens));
        var scaleVector = Vector512.Create(scale);
        var last = stackalloc ushort[Lanes];
        for (var j = 0; j < length; j++)
        {
            var logitsRow = logits + (long)j * logitsStride;
            var row = gradient + (long)j * tokens;
            var t = 0;
            for (; t < vectorTokens; t += Lanes)
                Avx.Store(row + t, BFloat16Bits.Narrow(ExpNonPositive(BFloat16Bits.LoadSixteen(logitsRow + t) - Avx512F.LoadVector512(logSumExp + t)) * scaleVector));
            if (t < tokens)
            {
                // Lanes past the row read the next row or the padding; only the row's own are written.
                var p = ExpNonPositive(BFloat16Bits.LoadSixteen(logitsRow + t) - Avx512F.MaskLoad(logSumExp + t, tail, default));
                Avx.Store(last, BFloat16Bits.Narrow(p * scaleVector));
                new ReadOnlySpan<ushort>(last, tokens - t).CopyTo(new Span<ushort>(row + t, tokens - t));
            }
        }
        for (var t = 0; t < tokens; t++)
        {
            var local = targets[t] - start;
            if (local >= 0 && local < length)
            {
                var p = HeadKernels.ExpNonPositive(Vector256.Create(targetLogit[t]) - Vector256.Create(logSumExp[t])) - Vector256<float>.One;
                gradient[local * tokens + t] = BFloat16Bits.Round((p * Vector256.Create(scale)).ToScalar());
            }
        }
    }

    /// <summary>
    /// targetLogit[t] = the bf16 logit at token t's target, widened, for each token whose target lies in the rows
    /// [start, start + length) of the (length x tokens) block; the others are left as they are.
    /// </summary>
    public static void CopyTargetLogits(ushort* logits, int length, int tokens, long start, long* targets, float* targetLogit)
    {
        for (var t = 0; t < tokens; t++)
        {
            var local = targets[t] - start;
            if (local >= 0 && local < length)
                targetLogit[t] = BFloat16Bits.ToSingle(logits[local * tokens + t]);
        }
    }

    /// <summary>destination[i] = source[i] widened from bf16 (<paramref name="add"/>: +=).</summary>
    public static void Widen(ushort* source, float* destination, int count, bool add)
    {
        var i = 0;
        for (; i + Lanes <= count; i += Lanes)
        {
            var values = BFloat16Bits.LoadSixteen(source + i);
            Avx512F.Store(destination + i, add ? values + Avx512F.LoadVector512(destination + i) : values);
        }
        for (; i < count; i++)
            destination[i] = add ? destination[i] + BFloat16Bits.ToSingle(source[i]) : BFloat16Bits.ToSingle(source[i]);
    }

    /// <summary>destination[i] = source[i] rounded to bf16.</summary>
    public static void Narrow(float* source, ushort* destination, int count)
    {
        var i = 0;
        for (; i + Lanes <= count; i += Lanes)
            Avx.Store(destination + i, BFloat16Bits.Narrow(Avx512F.LoadVector512(source + i)));
        for (; i < count; i++)
            destination[i] = BFloat16Bits.Round(source[i]);
    }

    /// <summary>The lanes of the last, partial vector of <paramref name="tokens"/> (all clear when there is none).</summary>
    private static Vector512<float> Tail(int tokens) =>
        Vector512.LessThan(Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15), Vector512.Create(tokens % Lanes)).AsSingle();

    /// <summary><see cref="HeadKernels.ExpNonPositive"/> on sixteen lanes, operation for operation.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> ExpNonPositive(Vector512<float> x)
    {
        x = Avx512F.Max(x, Vector512.Create(HeadKernels.ExpPolynomial.Lowest));
        var shifter = Vector512.Create(HeadKernels.ExpPolynomial.Shifter);
        var shifted = Avx512F.FusedMultiplyAdd(x, Vector512.Create(HeadKernels.ExpPolynomial.Log2E), shifter);
        var n = shifted - shifter;                                                    // round(x / ln 2)
        var r = Avx512F.FusedMultiplyAddNegated(n, Vector512.Create(HeadKernels.ExpPolynomial.Ln2High), x);
        r = Avx512F.FusedMultiplyAddNegated(n, Vector512.Create(HeadKernels.ExpPolynomial.Ln2Low), r);
        var r2 = r * r;
        var low = Avx512F.FusedMultiplyAdd(Vector512.Create(HeadKernels.ExpPolynomial.C3), r, Vector512.Create(HeadKernels.ExpPolynomial.C2));
        var middle = Avx512F.FusedMultiplyAdd(Vector512.Create(HeadKernels.ExpPolynomial.C5), r, Vector512.Create(HeadKernels.ExpPolynomial.C4));
        var high = Avx512F.FusedMultiplyAdd(Vector512.Create(HeadKernels.ExpPolynomial.C7), r, Vector512.Create(HeadKernels.ExpPolynomial.C6));
        var p = Avx512F.FusedMultiplyAdd(high, r2 * r2, Avx512F.FusedMultiplyAdd(middle, r2, low));
        p = Avx512F.FusedMultiplyAdd(p, r2, r + Vector512<float>.One);
        return p * Avx512F.ShiftLeftLogical(shifted.AsInt32(), 23).AsSingle();        // times 2^n
    }
}
