using QwenTune.Distributed;
using QwenTune.Training;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QwenTune.Tests.Training;

public sealed class AdamWUpdaterTests
{
    /// <summary>Two tiny parameter sets, one updated by ours, one by libtorch's own AdamW (the reference).</summary>
    private static (Parameter Weight, Parameter Bias) MakeParameters(ScalarType dtype)
    {
        var generator = new Generator(7);
        var weight = new Parameter(randn([4, 3], generator: generator).to(dtype));
        var bias = new Parameter(randn([4], generator: generator).to(dtype));
        return (weight, bias);
    }

    private static void Backward(Parameter weight, Parameter bias, int step)
    {
        using var scope = NewDisposeScope();
        var x = arange(6, ScalarType.Float32).reshape(2, 3).to(weight.dtype) * (step + 1) * 0.1;
        var y = nn.functional.linear(x, weight, bias);
        (y.to(ScalarType.Float32).pow(3).sum() * 0.5).backward();
    }

    [Fact]
    public void Matches_torch_adamw_with_decay_groups_over_five_steps()
    {
        var (w1, b1) = MakeParameters(ScalarType.Float32);
        var (w2, b2) = MakeParameters(ScalarType.Float32);
        var ours = new AdamWUpdater(
            [new TrainableParameter("w", w1, Decay: true), new TrainableParameter("b", b1, Decay: false)],
            new AdamWOptions(0.9, 0.95, 1e-8, 0.1), new SingleProcess());
        var reference = optim.AdamW(
            [new AdamW.ParamGroup([w2], new AdamW.Options { weight_decay = 0.1 }),
             new AdamW.ParamGroup([b2], new AdamW.Options { weight_decay = 0.0 })],
            lr: 0.01, beta1: 0.9, beta2: 0.95, eps: 1e-8);
        for (var step = 0; step < 5; step++)
        {
            ours.ZeroGrad();
            reference.zero_grad();
            Backward(w1, b1, step);
            Backward(w2, b2, step);
            ours.Step(0.01, maxGradNorm: 0);
            reference.step();
        }
        Assert.True(w1.allclose(w2, rtol: 1e-5, atol: 1e-6), "weights differ from torch.optim.AdamW");
        Assert.True(b1.allclose(b2, rtol: 1e-5, atol: 1e-6), "biases differ from torch.optim.AdamW");
    }

    [Fact]
    public void Clipping_scales_gradients_to_the_max_norm_and_reports_the_unclipped_norm()
    {
        var (w1, b1) = MakeParameters(ScalarType.Float32);
        var (w2, b2) = MakeParameters(ScalarType.Float32);
        var ours = new AdamWUpdater([new("w", w1, true), new("b", b1, false)], new AdamWOptions(0.9, 0.999, 1e-8, 0), new SingleProcess());
        var reference = optim.AdamW([w2, b2], lr: 0.01);
        Backward(w1, b1, 0);
        Backward(w2, b2, 0);
        var expectedNorm = Math.Sqrt(w2.grad!.pow(2).sum().item<float>() + b2.grad!.pow(2).sum().item<float>());
        var reported = nn.utils.clip_grad_norm_([w2, b2], 0.5);
        var result = ours.Step(0.01, maxGradNorm: 0.5);
        reference.step();
        Assert.Equal(expectedNorm, result.GradNorm, 4);
        Assert.Equal(reported, result.GradNorm, 4);
        Assert.True(w1.allclose(w2, rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void Bf16_parameters_follow_float32_master_weights()
    {
        var (w32, b32) = MakeParameters(ScalarType.Float32);
        var (w16, b16) = MakeParameters(ScalarType.BFloat16);
        var options = new AdamWOptions(0.9, 0.999, 1e-8, 0.0);
        var full = new AdamWUpdater([new("w", w32, true), new("b", b32, false)], options, new SingleProcess());
        var half = new AdamWUpdater([new("w", w16, true), new("b", b16, false)], options, new SingleProcess());
        // The same float32 gradient for both, so that only storage precision differs.
        for (var step = 0; step < 20; step++)
        {
            full.ZeroGrad();
            half.ZeroGrad();
            Backward(w32, b32, step);
            w16.grad = w32.grad!.to(ScalarType.BFloat16);
            b16.grad = b32.grad!.to(ScalarType.BFloat16);
            full.Step(1e-4, 0);
            half.Step(1e-4, 0);
        }
        var master = half.StateTensors().Single(kv => kv.Key == "master.w").Value;
        // Tiny 1e-4 updates vanish in bf16 storage but accumulate in the master copy.
        Assert.True(master.allclose(w32, rtol: 2e-2, atol: 1e-3));
        Assert.True(w16.to(ScalarType.Float32).allclose(master.to(ScalarType.BFloat16).to(ScalarType.Float32)));
    }
}
