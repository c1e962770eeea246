using QwenTune.Models;
using QwenTune.Training;

namespace QwenTune.Tests.Training;

/// <summary>
/// The AVX-512 passes over bf16 logits against <see cref="HeadKernels"/>' AVX2 passes over the same logits widened to
/// float32 (which the head tests hold to a float64 reference): the same bits, element for element, in every lane and in
/// the tail past the last multiple of sixteen.
/// </summary>
public sealed unsafe class BFloat16HeadKernelsTests
{
    [SkippableTheory]
    [InlineData(40, 37)]    // two vectors and a tail of five
    [InlineData(64, 16)]    // whole vectors only
    [InlineData(24, 7)]     // tail only
    public void Reduce_keep_and_gradient_give_the_float32_passes_bits(int length, int tokens)
    {
        Skip.IfNot(BFloat16HeadKernels.Supported, "this CPU has no AVX-512: the bf16 passes never run");
        var random = new Random(length * 1000 + tokens);
        var (logits, wide) = RandomBFloat16Logits.Create(random, length * tokens, BFloat16HeadKernels.Padding,
            (3 * tokens + tokens - 1, float.PositiveInfinity),   // a tail token whose sum turns NaN
            (5 * tokens + 2, float.NaN),                         // and a vector lane's
            (7 * tokens + 1, -200f));                            // exp below the smallest normal
        var targets = Enumerable.Range(0, tokens).Select(t => (long)(t % 3 == 0 ? 1000 + random.Next(length) : random.Next(length + 5) - 2)).ToArray();
        var logSumExp = Enumerable.Range(0, tokens).Select(_ => (float)(random.NextDouble() * 4 + 14)).ToArray();
        var keptStride = (tokens + 7) / 8 * 8;
        const float scale = 0.0173f;

        var (expectedMax, expectedSum, expectedExp) = (new float[tokens], new float[tokens], new float[length * keptStride + 8]);
        var (max, sum, keptMax, keptSum) = (new float[tokens], new float[tokens], new float[tokens], new float[tokens]);
        var kept = Enumerable.Repeat((ushort)0xFFFF, length * keptStride + BFloat16HeadKernels.Padding).ToArray();
        var (expectedTarget, target) = (new float[tokens], new float[tokens]);
        var gradient = new ushort[length * tokens];
        var inPlace = (ushort[])logits.Clone();
        var scratch = new float[tokens];
        HashSet<int> finite;
        fixed (float* w = wide, em = expectedMax, es = expectedSum, ee = expectedExp, m = max, s = sum, km = keptMax, ks = keptSum)
        fixed (float* et = expectedTarget, tl = target, lse = logSumExp, sc = scratch)
        fixed (ushort* l = logits, k = kept, g = gradient, ip = inPlace)
        fixed (long* targetAt = targets)
        {
            HeadKernels.KeepExp(w, length, tokens, false, em, es, Align(ee), keptStride);   // kept rows on a 32-byte boundary, as the arena gives them
            BFloat16HeadKernels.ReduceLogits(l, length, tokens, m, s, null, 0);
            BFloat16HeadKernels.ReduceLogits(l, length, tokens, km, ks, k, keptStride);
            HeadKernels.CopyTargetLogits(w, length, tokens, 1000, targetAt, et);
            BFloat16HeadKernels.CopyTargetLogits(l, length, tokens, 1000, targetAt, tl);
            // A token with a NaN or infinite logit has a NaN sum, so a NaN loss, in both; past that its max and gradient
            // mean nothing (the AVX2 passes' scalar tail and vector lanes already pick different maxima for it).
            finite = Enumerable.Range(0, tokens).Where(t => !float.IsNaN(expectedSum[t])).ToHashSet();
            Assert.All(Enumerable.Range(0, tokens).Where(t => !finite.Contains(t)), t => Assert.True(float.IsNaN(sum[t]), $"token {t}'s sum"));
            foreach (var (what, actualMax, actualSum) in new[] { ("reduced", max, sum), ("kept", keptMax, keptSum) })
            {
                AssertBits(expectedMax, actualMax, $"{what}: max", finite);
                AssertBits(expectedSum, actualSum, $"{what}: sum of exp", finite);
            }
            AssertBits(expectedTarget, target, "target logit", finite);

            // Kept and written again, the same gradient; in place, too.
            BFloat16HeadKernels.SoftmaxGradient(k, keptStride, length, tokens, 0, targetAt, lse, scale, g, sc);
            BFloat16HeadKernels.SoftmaxGradient(ip, tokens, length, tokens, 0, targetAt, lse, scale, ip, sc);
            HeadKernels.SoftmaxGradient(w, length, tokens, 0, targetAt, lse, roundToBFloat16: true, scale);
        }
        for (var j = 0; j < length; j++)
        {
            Assert.Equal(logits.AsSpan(j * tokens, tokens).ToArray(), kept.AsSpan(j * keptStride, tokens).ToArray());   // the logits as they were
            Assert.All(kept.AsSpan(j * keptStride + tokens, keptStride - tokens).ToArray(), b => Assert.Equal(0xFFFF, b));   // nothing past each row
        }
        for (var i = 0; i < length * tokens; i++)
            if (finite.Contains(i % tokens))
            {
                var expected = BFloat16Bits.Round(wide[i]);
                Assert.True(expected == gradient[i], $"gradient element {i}: {gradient[i]:X4} against {expected:X4}");
                Assert.True(expected == inPlace[i], $"in place, gradient element {i}: {inPlace[i]:X4} against {expected:X4}");
            }
        Assert.Equal(logits.AsSpan(length * tokens).ToArray(), inPlace.AsSpan(length * tokens).ToArray());   // the padding untouched
        Assert.Equal(tokens - 2, finite.Count);   // the infinite and the NaN logit's tokens
        Assert.Contains(wide, v => v < 0);   // some targets fell in the block
    }

    /// <summary>The vector conversions against BFloat16Bits' scalar rounding: ties to even both ways, NaN, and a tail.</summary>
    [SkippableFact]
    public void Narrow_rounds_as_the_scalar_rounding_and_widen_adds_exactly()
    {
        Skip.IfNot(BFloat16HeadKernels.Supported, "this CPU has no AVX-512: the bf16 passes never run");
        var random = new Random(4);
        var values = new float[1000 + 7];
        for (var i = 0; i < values.Length; i++)
            values[i] = (i % 4) switch
            {
                0 => BitConverter.Int32BitsToSingle((random.Next(0x3C00, 0x4400) << 16) | 0x8000),   // an exact tie, either lowest bit
                1 => BitConverter.Int32BitsToSingle((random.Next(0x3C00, 0x4400) << 16) | 0x7FFF),
                _ => (float)(random.NextDouble() * 200 - 100),
            };
        values[5] = float.NaN;
        values[^2] = float.NegativeInfinity;
        var narrowed = new ushort[values.Length];
        var widened = Enumerable.Range(0, values.Length).Select(i => (float)i).ToArray();
        fixed (float* source = values, destination = widened)
        fixed (ushort* bits = narrowed)
        {
            BFloat16HeadKernels.Narrow(source, bits, values.Length);
            BFloat16HeadKernels.Widen(bits, destination, values.Length, add: true);
        }
        for (var i = 0; i < values.Length; i++)
        {
            Assert.True(BFloat16Bits.Round(values[i]) == narrowed[i], $"element {i}: {narrowed[i]:X4} against {BFloat16Bits.Round(values[i]):X4}");
            var expected = i + BitConverter.Int32BitsToSingle(narrowed[i] << 16);
            Assert.Equal(BitConverter.SingleToInt32Bits(expected), BitConverter.SingleToInt32Bits(widened[i]));
        }
    }

    private static float* Align(float* at) => (float*)(((nint)at + 31) & ~(nint)31);

    private static void AssertBits(float[] expected, float[] actual, string what, HashSet<int> tokens)
    {
        foreach (var i in tokens)
            Assert.True(BitConverter.SingleToInt32Bits(expected[i]) == BitConverter.SingleToInt32Bits(actual[i]),
                $"{what} of token {i}: {actual[i]:R} against {expected[i]:R}");
    }
}
