using QwenTune.Quantization;

namespace QwenTune.Tests.Quantization;

public sealed class Nf4CodeTableTests
{
    // QLoRA's NF4 construction (bitsandbytes create_normal_map): offset = 0.9677083 is the probability whose normal
    // quantile becomes +-1; the positive half uses 9 evenly spaced probabilities from offset down to 0.5 (the last,
    // 0.5, is the shared zero), the negative half 8 of them (again dropping 0.5), mirrored; then divide by the largest.
    [Fact]
    public void Code_table_equals_normal_quantiles_of_the_QLoRA_construction()
    {
        const double offset = 0.9677083;
        var values = new List<double> { 0.0 };
        for (var i = 0; i < 8; i++)
            values.Add(InverseNormalCdf(FloatLinspace(offset, 0.5, 9, i)));
        for (var i = 0; i < 7; i++)
            values.Add(-InverseNormalCdf(FloatLinspace(offset, 0.5, 8, i)));
        values.Sort();
        var largest = values[^1];
        var expected = values.Select(v => v / largest).ToArray();

        Assert.Equal(16, Nf4.Codes.Count);
        for (var i = 0; i < 16; i++)
            Assert.True(Math.Abs(expected[i] - Nf4.Codes[i]) < 1e-6, $"code {i}: derived {expected[i]:R}, table {Nf4.Codes[i]:R}");
    }

    [Fact]
    public void Code_table_is_ascending_with_exact_zero_and_unit_ends()
    {
        for (var i = 1; i < 16; i++)
            Assert.True(Nf4.Codes[i] > Nf4.Codes[i - 1]);
        Assert.Equal(-1f, Nf4.Codes[0]);
        Assert.Equal(0f, Nf4.Codes[7]);
        Assert.Equal(1f, Nf4.Codes[15]);
        // The widest interval is the outermost negative one (7 negative codes against 8 positive ones); half of it
        // bounds the per-element error.
        Assert.Equal(1.0 - 0.6961928009986877, Nf4.LargestCodeGap, 1e-7);
    }

    // bitsandbytes' signed dynamic map, derived here by hand: in decade 10^(e-6), e = 0..6, there are 2^e values,
    // the midpoints of 2^e equal steps over [0.1, 1], times the decade; the same negated; plus 0 and 1.
    [Fact]
    public void Dynamic_map_holds_the_midpoint_grids_of_each_decade()
    {
        var expected = new List<double> { 0.0, 1.0 };
        for (var e = 0; e < 7; e++)
        {
            var count = 1 << e;
            for (var k = 0; k < count; k++)
            {
                var value = (0.1 + 0.9 * (k + 0.5) / count) * Math.Pow(10, e - 6);
                expected.Add(value);
                expected.Add(-value);
            }
        }
        expected.Sort();

        Assert.Equal(256, Nf4.DynamicMap.Count);
        for (var i = 0; i < 256; i++)
            Assert.True(Math.Abs(expected[i] - Nf4.DynamicMap[i]) <= 1e-6 * Math.Abs(expected[i]) + 1e-12,
                $"entry {i}: derived {expected[i]:R}, map {Nf4.DynamicMap[i]:R}");
        Assert.Equal(-0.99296875, Nf4.DynamicMap[0], 1e-7);
    }

    // torch.linspace(start, end, steps) in float32, as bitsandbytes computes the probabilities.
    private static double FloatLinspace(double start, double end, int steps, int index) =>
        (float)(start + (end - start) * index / (steps - 1));

    // Bisection on the normal CDF; erf from its Maclaurin series, exact to ~1e-15 for |x| < 3.
    private static double InverseNormalCdf(double probability)
    {
        double low = -4, high = 4;
        for (var iteration = 0; iteration < 200; iteration++)
        {
            var mid = (low + high) / 2;
            if (0.5 * (1 + Erf(mid / Math.Sqrt(2))) < probability) low = mid;
            else high = mid;
        }
        return (low + high) / 2;
    }

    private static double Erf(double x)
    {
        double sum = 0, term = x;                                   // term = (-1)^n x^(2n+1) / n!
        for (var n = 0; n < 200; n++)
        {
            sum += term / (2 * n + 1);
            term *= -x * x / (n + 1);
        }
        return 2 / Math.Sqrt(Math.PI) * sum;
    }
}
