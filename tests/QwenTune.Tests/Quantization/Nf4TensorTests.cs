using QwenTune.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Tests.Quantization;

public sealed class Nf4TensorTests
{
    // 300 x 517 = 155100 values: 2424 blocks of 64 (the last one partial) in 10 absmax groups (the last one partial).
    private static readonly long[] OddShape = [300, 517];

    [Fact]
    public void Round_trip_error_of_normal_data_is_within_the_nf4_and_double_quant_bound()
    {
        using var weight = randn(OddShape, generator: new Generator(7));
        using var nf4 = Nf4Tensor.Quantize(weight);
        using var restored = nf4.Dequantize(ScalarType.Float32);

        var x = weight.data<float>().ToArray();
        var y = restored.data<float>().ToArray();
        var blockAbsmax = BlockAbsmax(x, 64);
        // Second level: absmax constants minus their mean, in groups of 256, each group scaled by its largest |.|.
        var groupScale = GroupScales(blockAbsmax, 256);
        var halfNf4Gap = Nf4.LargestCodeGap / 2;                         // 0.1519
        var halfDynamicGap = Nf4.LargestGap(Nf4.DynamicMap) / 2;         // 0.00703; also covers -1 -> -0.99297

        var worstRatio = 0.0;
        for (var i = 0; i < x.Length; i++)
        {
            var block = i / 64;
            // |x - c*A'| <= |x - c*A| + |c| |A - A'| with |c| <= 1, plus fp32 rounding.
            var bound = halfNf4Gap * blockAbsmax[block] + halfDynamicGap * groupScale[block / 256] + 1e-5 * blockAbsmax[block];
            var error = Math.Abs(x[i] - y[i]);
            Assert.True(error <= bound, $"element {i}: |{x[i]} - {y[i]}| = {error} > {bound}");
            worstRatio = Math.Max(worstRatio, error / bound);
        }
        Assert.True(worstRatio > 0.5, $"the bound is never approached (worst {worstRatio}): the test data is too easy");
    }

    [Fact]
    public void Without_double_quant_each_value_becomes_the_nearest_code_times_its_block_absmax()
    {
        using var weight = randn(OddShape, generator: new Generator(11)) * 0.02;
        using var nf4 = Nf4Tensor.Quantize(weight, doubleQuant: false);
        using var restored = nf4.Dequantize(ScalarType.Float32);

        var x = weight.data<float>().ToArray();
        var y = restored.data<float>().ToArray();
        var blockAbsmax = BlockAbsmax(x, 64);
        for (var i = 0; i < x.Length; i++)
        {
            var scaled = x[i] / blockAbsmax[i / 64];
            var nearestDistance = Nf4.Codes.Min(c => Math.Abs(scaled - c));
            var chosenDistance = Math.Abs(scaled - y[i] / blockAbsmax[i / 64]);
            Assert.True(chosenDistance <= nearestDistance + 1e-6, $"element {i}: {scaled} -> {y[i] / blockAbsmax[i / 64]}, nearest code is {nearestDistance} away");
        }
    }

    [Fact]
    public void Double_quantised_absmax_is_within_half_a_dynamic_map_step_of_the_true_absmax()
    {
        using var weight = randn(OddShape, generator: new Generator(3));
        using var nf4 = Nf4Tensor.Quantize(weight);
        using var absmax = nf4.DequantizeAbsmax();

        var trueAbsmax = BlockAbsmax(weight.data<float>().ToArray(), 64);
        var restored = absmax.data<float>().ToArray();
        var groupScale = GroupScales(trueAbsmax, 256);
        var halfDynamicGap = Nf4.LargestGap(Nf4.DynamicMap) / 2;
        Assert.Equal(trueAbsmax.Length, restored.Length);
        for (var b = 0; b < trueAbsmax.Length; b++)
        {
            var bound = halfDynamicGap * groupScale[b / 256] + 1e-6;
            Assert.True(Math.Abs(trueAbsmax[b] - restored[b]) <= bound, $"block {b}: {trueAbsmax[b]} -> {restored[b]}");
        }
    }

    [Fact]
    public void Values_that_are_codes_times_absmax_round_trip_exactly()
    {
        // Three blocks with different absmax; each holds every code (so +-absmax too) in a scrambled order.
        var absmaxes = new[] { 1f, 0.0371f, 5.25f };
        var values = new float[3 * 64];
        for (var b = 0; b < 3; b++)
            for (var j = 0; j < 64; j++)
                values[64 * b + j] = Nf4.Codes[(j * 7 + b) % 16] * absmaxes[b];
        using var weight = tensor(values, [3, 64]);
        using var nf4 = Nf4Tensor.Quantize(weight, doubleQuant: false);
        using var restored = nf4.Dequantize(ScalarType.Float32);
        Assert.Equal(values, restored.data<float>().ToArray());

        // With double quantisation, equal power-of-two absmax constants (centred to exactly 0) also survive.
        var equalAbsmax = values.Select((v, i) => Nf4.Codes[(i * 5) % 16] * 2f).ToArray();
        using var weight2 = tensor(equalAbsmax, [3, 64]);
        using var nf42 = Nf4Tensor.Quantize(weight2);
        using var restored2 = nf42.Dequantize(ScalarType.Float32);
        Assert.Equal(equalAbsmax, restored2.data<float>().ToArray());
    }

    [Fact]
    public void Codes_are_packed_two_per_byte_with_the_first_value_in_the_high_nibble()
    {
        // Value i is code (i mod 16) with absmax 1, so byte k holds codes 2k, 2k+1 of that cycle: 0x01, 0x23, ...
        var values = Enumerable.Range(0, 64).Select(i => Nf4.Codes[i % 16]).ToArray();
        using var weight = tensor(values, [64]);
        using var nf4 = Nf4Tensor.Quantize(weight, doubleQuant: false);

        byte[] cycle = [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF];
        Assert.Equal(cycle.Concat(cycle).Concat(cycle).Concat(cycle).ToArray(), nf4.PackedCodes.data<byte>().ToArray());

        // Reversed: 15, 14, ... -> 0xFE, 0xDC, ...
        using var reversed = tensor(values.Reverse().ToArray(), [64]);
        using var nf4Reversed = Nf4Tensor.Quantize(reversed, doubleQuant: false);
        Assert.Equal(0xFE, nf4Reversed.PackedCodes.data<byte>()[0]);
        Assert.Equal(0x10, nf4Reversed.PackedCodes.data<byte>()[31]);
    }

    [Fact]
    public void A_value_on_a_midpoint_takes_the_lower_code_like_bitsandbytes()
    {
        var midpoint = (float)((0.7229568362236023 + 1.0) / 2);      // bitsandbytes: x > 0.8614784 -> 1.0
        using var weight = tensor(new[] { 1f, midpoint, -1f, 0f }, [4]);
        using var nf4 = Nf4Tensor.Quantize(weight, blockSize: 4, doubleQuant: false);
        Assert.Equal(new byte[] { 0xFE, 0x07 }, nf4.PackedCodes.data<byte>().ToArray());
    }

    [Fact]
    public void Storage_is_under_0_53_bytes_per_value_with_double_quant_and_0_5625_without()
    {
        using var weight = randn(4096, 4096, generator: new Generator(1), dtype: ScalarType.BFloat16);
        using var withDoubleQuant = Nf4Tensor.Quantize(weight);
        using var plain = Nf4Tensor.Quantize(weight, doubleQuant: false);

        const long n = 4096L * 4096;
        const long blocks = n / 64, groups = blocks / 256;
        Assert.Equal(n / 2 + blocks + 4 * groups + 4, withDoubleQuant.StorageBytes);   // codes, 8-bit absmax, scales, offset
        Assert.True(withDoubleQuant.StorageBytes <= 0.53 * n);
        Assert.Equal(0.5 + 1.0 / 64 + 4.0 / (64 * 256), (double)withDoubleQuant.StorageBytes / n, 1e-6);
        Assert.Equal(n / 2 + 4 * blocks, plain.StorageBytes);
        Assert.Equal(0.5 + 4.0 / 64, (double)plain.StorageBytes / n, 12);
    }

    [Fact]
    public void Padding_of_a_partial_last_block_keeps_shape_and_values()
    {
        // 3 x 7 = 21 values: one block of 64, padded with 43 zeros.
        using var weight = arange(1, 22, dtype: ScalarType.Float32).reshape(3, 7) / 21.0;
        using var nf4 = Nf4Tensor.Quantize(weight, doubleQuant: false);
        Assert.Equal(new long[] { 3, 7 }, nf4.Shape);
        Assert.Equal(32, nf4.PackedCodes.shape[0]);
        using var restored = nf4.Dequantize(ScalarType.Float32);
        Assert.Equal(new long[] { 3, 7 }, restored.shape);
        // The block absmax is 1 (the last value): every value is its nearest code.
        var x = weight.data<float>().ToArray();
        var y = restored.data<float>().ToArray();
        for (var i = 0; i < 21; i++)
            Assert.Equal(Nf4.Codes.MinBy(c => Math.Abs(c - x[i])), y[i]);
    }

    [Theory]
    [InlineData(ScalarType.BFloat16)]
    [InlineData(ScalarType.Float16)]
    [InlineData(ScalarType.Float32)]
    public void Dequantize_rounds_the_fp32_result_once_to_the_requested_dtype(ScalarType dtype)
    {
        using var weight = randn(new long[] { 96, 40 }, generator: new Generator(5), dtype: ScalarType.BFloat16);
        using var nf4 = Nf4Tensor.Quantize(weight);
        Assert.Equal(ScalarType.BFloat16, nf4.OriginalDtype);
        using var reference = nf4.Dequantize(ScalarType.Float32).to(dtype);
        using var restored = nf4.Dequantize(dtype);
        Assert.Equal(dtype, restored.dtype);
        Assert.Equal(new long[] { 96, 40 }, restored.shape);
        Assert.True(restored.eq(reference).all().item<bool>());
        using var original = nf4.Dequantize();
        Assert.Equal(ScalarType.BFloat16, original.dtype);
    }

    [Fact]
    public void An_all_zero_block_dequantises_to_zeros()
    {
        using var weight = cat([zeros(64), ones(64)]).reshape(2, 64);
        using var nf4 = Nf4Tensor.Quantize(weight);
        using var restored = nf4.Dequantize(ScalarType.Float32);
        Assert.True(restored.eq(weight).all().item<bool>());
    }

    [Fact]
    public void Storage_outlives_the_dispose_scope_it_was_made_in()
    {
        Nf4Tensor nf4;
        using var weight = randn(8, 64, generator: new Generator(2));
        using (NewDisposeScope())
            nf4 = Nf4Tensor.Quantize(weight);
        using (nf4)
        using (var restored = nf4.Dequantize(ScalarType.Float32))
            Assert.True((restored - weight).abs().max().item<float>() < 0.2f * weight.abs().max().item<float>());
    }

    [Theory]
    [InlineData(0)]
    [InlineData(63)]
    [InlineData(-64)]
    public void Invalid_block_sizes_are_refused_with_a_message(int blockSize)
    {
        using var weight = ones(4, 64);
        var error = Assert.Throws<QwenTuneException>(() => Nf4Tensor.Quantize(weight, blockSize));
        Assert.Contains("block size", error.Message);
    }

    [Fact]
    public void Integer_weights_are_refused_with_a_message()
    {
        using var weight = ones(new long[] { 4, 64 }, dtype: ScalarType.Int64);
        var error = Assert.Throws<QwenTuneException>(() => Nf4Tensor.Quantize(weight));
        Assert.Contains("floating-point", error.Message);
    }

    private static double[] BlockAbsmax(float[] values, int blockSize)
    {
        var absmax = new double[(values.Length + blockSize - 1) / blockSize];
        for (var i = 0; i < values.Length; i++)
            absmax[i / blockSize] = Math.Max(absmax[i / blockSize], Math.Abs(values[i]));
        return absmax;
    }

    // Double quantisation's second level: absmax constants minus their mean, grouped, each group's largest |.|.
    private static double[] GroupScales(double[] absmax, int groupSize)
    {
        var mean = absmax.Average();
        var scales = new double[(absmax.Length + groupSize - 1) / groupSize];
        for (var b = 0; b < absmax.Length; b++)
            scales[b / groupSize] = Math.Max(scales[b / groupSize], Math.Abs(absmax[b] - mean));
        return scales;
    }
}
