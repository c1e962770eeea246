using System.Runtime.Intrinsics;
using QwenTune.Training;

namespace QwenTune.Tests.Training;

public sealed class HeadKernelsTests
{
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
