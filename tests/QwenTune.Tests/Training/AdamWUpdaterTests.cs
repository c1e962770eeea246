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
            new AdamWOptions(0.9, 0.95, 1e-8, 0.1));
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
        var ours = new AdamWUpdater([new("w", w1, true), new("b", b1, false)], new AdamWOptions(0.9, 0.999, 1e-8, 0));
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
        var full = new AdamWUpdater([new("w", w32, true), new("b", b32, false)], options);
        var half = new AdamWUpdater([new("w", w16, true), new("b", b16, false)], options);
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

    /// <summary>
    /// --optim adamw_hf is transformers.optimization.AdamW (correct_bias=True): epsilon is added to sqrt(v) before the bias
    /// correction, the step is lr * sqrt(1 - beta2^t) / (1 - beta1^t), and weight decay p -= lr * wd * p comes after the
    /// Adam update. Checked against that arithmetic written out in float64 for one scalar parameter over three steps.
    /// </summary>
    [Fact]
    public void Adamw_hf_follows_the_transformers_legacy_arithmetic()
    {
        const double lr = 0.1, beta1 = 0.9, beta2 = 0.95, eps = 1e-3, decay = 0.5;
        double[] gradients = [0.3, -0.2, 0.05];
        var parameter = new Parameter(tensor(new[] { 1.5f }));
        using var updater = new AdamWUpdater([new TrainableParameter("p", parameter, Decay: true)],
            new AdamWOptions(beta1, beta2, eps, decay, AdamWOptions.VariantFor("adamw_hf")));
        double p = 1.5, m = 0, v = 0;
        for (var t = 1; t <= 3; t++)
        {
            var g = gradients[t - 1];
            parameter.grad = tensor(new[] { (float)g });
            updater.Step(lr, maxGradNorm: 0);
            m = beta1 * m + (1 - beta1) * g;
            v = beta2 * v + (1 - beta2) * g * g;
            p -= lr * Math.Sqrt(1 - Math.Pow(beta2, t)) / (1 - Math.Pow(beta1, t)) * m / (Math.Sqrt(v) + eps);
            p -= lr * decay * p;
            Assert.Equal(p, parameter.item<float>(), 1e-6);
        }
        // torch's arithmetic gives a visibly different value for the same inputs (decay first, eps after the correction).
        var torchParameter = new Parameter(tensor(new[] { 1.5f }));
        using var torchUpdater = new AdamWUpdater([new TrainableParameter("p", torchParameter, Decay: true)],
            new AdamWOptions(beta1, beta2, eps, decay, AdamWOptions.VariantFor("adamw_torch")));
        foreach (var g in gradients)
        {
            torchParameter.grad = tensor(new[] { (float)g });
            torchUpdater.Step(lr, maxGradNorm: 0);
        }
        Assert.True(Math.Abs(torchParameter.item<float>() - p) > 1e-3);
    }

    [Theory]
    [InlineData("adamw_torch", AdamWVariant.Torch)]
    [InlineData("adamw_torch_fused", AdamWVariant.Torch)]
    [InlineData("adamw_hf", AdamWVariant.TransformersLegacy)]
    public void Supported_optim_names_choose_their_arithmetic(string optim, AdamWVariant expected) =>
        Assert.Equal(expected, AdamWOptions.VariantFor(optim));

    [Theory]
    [InlineData("adamw_bnb_8bit", "bitsandbytes")]
    [InlineData("paged_adamw_32bit", "bitsandbytes")]
    [InlineData("adamw_apex_fused", "vendor kernel")]
    [InlineData("sgd", "AdamW only")]
    [InlineData("adafactor", "AdamW only")]
    public void Other_optim_names_are_refused_with_the_reason(string optim, string reason)
    {
        var error = Assert.Throws<QwenTuneException>(() => AdamWOptions.VariantFor(optim));
        Assert.Contains($"--optim {optim} is not supported", error.Message);
        Assert.Contains(reason, error.Message);
    }
}
