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
    public void Keep_exp_and_kept_gradient_give_the_float32_passes_bits(int length, int tokens)
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

        var (expectedReference, expectedSum, expectedKept) = (new float[tokens], new float[tokens], new float[length * keptStride + 8]);
        var (reference, sum, kept) = (new float[tokens], new float[tokens], new float[length * keptStride + 8]);
        var (expectedTarget, target) = (new float[tokens], new float[tokens]);
        var expectedGradient = new float[length * tokens];
        var gradient = new ushort[length * tokens + BFloat16HeadKernels.Padding];
        HashSet<int> finite;
        var factor = new float[tokens];
        fixed (float* w = wide, er = expectedReference, es = expectedSum, r = reference, s = sum, et = expectedTarget, tl = target, eg = expectedGradient, f = factor, lse = logSumExp)
        fixed (ushort* l = logits, g = gradient)
        fixed (long* targetAt = targets)
        fixed (float* ekBase = expectedKept, kBase = kept)
        {
            // Kept rows on a 32-byte boundary, as the arena gives them.
            float* ek = Align(ekBase), k = Align(kBase);
            HeadKernels.KeepExp(w, length, tokens, false, er, es, ek, keptStride);
            BFloat16HeadKernels.KeepExp(l, length, tokens, r, s, k, keptStride);
            HeadKernels.CopyTargetLogits(w, length, tokens, 1000, targetAt, et);
            BFloat16HeadKernels.CopyTargetLogits(l, length, tokens, 1000, targetAt, tl);
            // A token with a NaN or infinite logit has a NaN sum, so a NaN loss, in both; past that its max, kept values and
            // gradient mean nothing (the AVX2 passes' scalar tail and vector lanes already pick different maxima for it).
            finite = Enumerable.Range(0, tokens).Where(t => !float.IsNaN(expectedSum[t])).ToHashSet();
            Assert.All(Enumerable.Range(0, tokens).Where(t => !finite.Contains(t)), t => Assert.True(float.IsNaN(sum[t]), $"token {t}'s sum"));
            AssertBits(expectedReference, reference, "max", finite);
            AssertBits(expectedSum, sum, "sum of exp", finite);
            AssertBits(expectedTarget, target, "target logit", finite);
            for (var j = 0; j < length; j++)
                foreach (var t in finite)
                    Assert.Equal(BitConverter.SingleToInt32Bits(ek[j * keptStride + t]), BitConverter.SingleToInt32Bits(k[j * keptStride + t]));

            HeadKernels.KeptGradient(ek, keptStride, length, tokens, 0, targetAt, er, lse, true, scale, f, eg);
            BFloat16HeadKernels.KeptGradient(k, keptStride, length, tokens, 0, targetAt, r, lse, scale, f, g);
        }
        for (var i = 0; i < length * tokens; i++)
            if (finite.Contains(i % tokens))
                Assert.True(BFloat16Bits.Round(expectedGradient[i]) == gradient[i], $"gradient element {i}: {gradient[i]:X4} against {BFloat16Bits.Round(expectedGradient[i]):X4}");
        Assert.Equal(tokens - 2, finite.Count);   // the infinite and the NaN logit's tokens
        Assert.Contains(expectedGradient, v => v < 0);   // some targets fell in the block
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
