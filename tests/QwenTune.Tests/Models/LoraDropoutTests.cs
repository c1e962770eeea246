using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Tests.Models;

public sealed class LoraDropoutTests
{
    [Fact]
    public void Keeps_one_minus_p_of_the_elements_and_scales_them()
    {
        using var x = ones(1_000_003);
        using var y = LoraDropout.Apply(x, 0.1, new Generator(1));
        var kept = y.ne(0).to(ScalarType.Float64).mean().item<double>();
        Assert.Equal(0.9, kept, 0.002);   // six binomial standard deviations
        Assert.True(y.eq(0).logical_or(y.eq(1.0f / 0.9f)).all().item<bool>(), "kept elements are x / (1 - p)");
    }

    /// <summary>The AVX2 pass (float32, bf16) and the libtorch-op pass (any other dtype or device) draw the same mask.</summary>
    [Fact]
    public void Vectorised_and_libtorch_passes_draw_the_same_mask()
    {
        const uint seed = 0xDEADBEEF;
        var threshold = LoraDropout.Threshold(0.3);
        using var x = rand(200_003, generator: new Generator(2)) + 0.5;   // past one 65,536-element chunk, odd tail
        using var float32 = LoraDropout.Masked(x, threshold, 2f, seed);
        using var float64 = LoraDropout.Masked(x.to(ScalarType.Float64), threshold, 2f, seed);
        using var bf16 = LoraDropout.Masked(x.to(ScalarType.BFloat16), threshold, 2f, seed);
        Assert.True(float32.ne(0).eq(float64.ne(0)).all().item<bool>(), "float32 and float64 masks differ");
        Assert.True(float32.to(ScalarType.Float64).allclose(float64, 1e-6, 0), "float32 values differ");
        using var bf16Reference = (x.to(ScalarType.BFloat16).to(ScalarType.Float32) * float32.ne(0) * 2f).to(ScalarType.BFloat16);
        Assert.True(bf16.eq(bf16Reference).all().item<bool>(), "bf16 differs from the float32 mask applied in bf16");
        var hashes = Enumerable.Range(0, 20).Select(i => LoraDropout.Hash(seed, 199_990 + i) >= threshold);
        var expected = float32.narrow(0, 199_990, 13).ne(0).data<bool>().ToArray();
        Assert.Equal(expected, hashes.Take(13));
    }

    [Fact]
    public void Backward_applies_the_forward_mask_without_storing_it()
    {
        var x = (rand([64, 300], generator: new Generator(3)) + 1).requires_grad_(true);
        var y = LoraDropout.Apply(x, 0.25, new Generator(4));
        using var upstream = randn([64, 300], generator: new Generator(5));
        y.backward([upstream]);
        using var expected = upstream * y.ne(0) / 0.75;
        Assert.True(x.grad!.allclose(expected, 1e-6, 1e-7));
    }

    /// <summary>Gradient checkpointing restores the generator before recomputing: the same state draws the same mask.</summary>
    [Fact]
    public void The_same_generator_state_draws_the_same_mask_and_the_next_call_another()
    {
        var generator = new Generator(6);
        using var x = ones(10_000);
        using var state = generator.get_state();
        using var first = LoraDropout.Apply(x, 0.5, generator);
        using var next = LoraDropout.Apply(x, 0.5, generator);
        generator.set_state(state);
        using var again = LoraDropout.Apply(x, 0.5, generator);
        Assert.True(first.eq(again).all().item<bool>());
        var both = first.ne(0).logical_and(next.ne(0)).to(ScalarType.Float64).mean().item<double>();
        Assert.Equal(0.25, both, 0.03);   // independent masks: kept by both a quarter of the time
    }
}
