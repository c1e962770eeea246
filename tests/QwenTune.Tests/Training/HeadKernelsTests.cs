using System.Runtime.Intrinsics;
using QwenTune.Models;
using QwenTune.Training;

namespace QwenTune.Tests.Training;

public sealed unsafe class HeadKernelsTests
{
    /// <summary>
    /// The block passes over bf16 logits (libtorch's bf16 products) against the same passes over those logits widened
    /// to float32 and rounded as a bf16 model rounds (the path the head tests hold to libtorch's cross_entropy): the same
    /// running max, sum and target logits, and the same gradient bits once the float32 one is narrowed, in vector lanes
    /// and the tail, with NaN, infinite and vanishing logits and targets inside, before and past the block.
    /// </summary>
    [SkippableTheory]
    [InlineData(40, 37)]    // four vectors and a tail of five
    [InlineData(33, 8)]     // whole vectors only
    [InlineData(17, 3)]     // tail only
    public void Bf16_blocks_give_the_rounded_float32_blocks_bits(int length, int tokens)
    {
        Skip.IfNot(HeadKernels.Supported, "this CPU has no AVX2 + FMA: the kernels never run");
        var random = new Random(length * 100 + tokens);
        var (logits, wide) = RandomBFloat16Logits.Create(random, length * tokens, 0,
            ((length - 1) * tokens + tokens - 1, float.PositiveInfinity), (2 * tokens, float.NaN), (5 * tokens + tokens / 2, -200f));
        const long start = 1000;
        var targets = Enumerable.Range(0, tokens).Select(t => start + random.Next(length + 6) - 3).ToArray();
        var (maxA, sumA, targetA) = (Filled(tokens, -5f), Filled(tokens, 0.25f), Filled(tokens, 7f));
        var (maxB, sumB, targetB) = ((float[])maxA.Clone(), (float[])sumA.Clone(), (float[])targetA.Clone());
        var logSumExp = Enumerable.Range(0, tokens).Select(_ => (float)(random.NextDouble() * 4 + 14)).ToArray();
        const float scale = 0.0173f;
        fixed (ushort* bf16 = logits)
        fixed (float* f32 = wide, ma = maxA, sa = sumA, ta = targetA, mb = maxB, sb = sumB, tb = targetB, lse = logSumExp)
        fixed (long* target = targets)
        {
            HeadKernels.Reduce(f32, length, tokens, start, target, roundToBFloat16: true, ma, sa, ta);
            HeadKernels.Reduce(bf16, length, tokens, start, target, mb, sb, tb);
            Assert.Equal(Bits(maxA), Bits(maxB));
            Assert.Equal(Bits(sumA), Bits(sumB));
            Assert.Equal(Bits(targetA), Bits(targetB));
            HeadKernels.SoftmaxGradient(f32, length, tokens, start, target, lse, roundToBFloat16: true, scale);
            HeadKernels.SoftmaxGradient(bf16, length, tokens, start, target, lse, scale);
        }
        Assert.Equal(wide.Select(BFloat16Bits.Round), logits);
        Assert.Contains(wide, g => g < 0);   // some target's softmax - 1 is in the block
    }

    private static float[] Filled(int count, float value) => Enumerable.Repeat(value, count).ToArray();

    private static int[] Bits(float[] values) => [.. values.Select(BitConverter.SingleToInt32Bits)];

    /// <summary>The kernels' exp against double-precision Math.Exp over the whole float range it covers, and its ends.</summary>
    [SkippableFact]
    public void Exp_is_within_two_units_in_the_last_place_and_flushes_below_the_smallest_normal()
    {
        Skip.IfNot(HeadKernels.Supported, "this CPU has no AVX2 + FMA: the kernels never run");
        var worst = 0.0;
        for (var x = -87.3; x <= 88.3; x += 0.000731)
        {
            var got = HeadKernels.Exp(Vector256.Create((float)x)).ToScalar();
            var expected = Math.Exp((float)x);
            worst = Math.Max(worst, Math.Abs(got - expected) / expected);
        }
        Assert.True(worst < 2.4e-7, $"worst relative error {worst:E3}");
        Assert.Equal(1f, HeadKernels.Exp(Vector256<float>.Zero).ToScalar());
        Assert.Equal(0f, HeadKernels.Exp(Vector256.Create(-87.5f)).ToScalar());
        Assert.Equal(0f, HeadKernels.Exp(Vector256.Create(float.NegativeInfinity)).ToScalar());
        var lanes = HeadKernels.Exp(Vector256.Create(-1f, -2f, -3f, -4f, 0.5f, 1f, 2f, -50f));
        for (var i = 0; i < 8; i++)
            Assert.Equal(Math.Exp(new[] { -1.0, -2, -3, -4, 0.5, 1, 2, -50 }[i]), lanes[i], Math.Exp(new[] { -1.0, -2, -3, -4, 0.5, 1, 2, -50 }[i]) * 2.4e-7);
    }
}
