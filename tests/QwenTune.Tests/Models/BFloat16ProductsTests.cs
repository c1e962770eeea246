using QwenTune.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Tests.Models;

/// <summary>bf16 products on float32 GEMMs against libtorch's own bf16 kernels (the slow path they replace).</summary>
public sealed class BFloat16ProductsTests
{
    [Fact]
    public void Widened_linear_matches_the_bf16_kernel_in_output_and_gradients()
    {
        var generator = new Generator(21);
        var x = randn([3, 5, 48], generator: generator).to(ScalarType.BFloat16);
        var w = (randn([40, 48], generator: generator) * 0.2).to(ScalarType.BFloat16);
        var upstream = randn([3, 5, 40], generator: generator).to(ScalarType.BFloat16);

        var (wideY, wideX, wideW) = Run(x, w, upstream, (a, b) => WidenedLinear.Apply(a, b));
        var (nativeY, nativeX, nativeW) = Run(x, w, upstream, (a, b) => nn.functional.linear(a, b));

        Assert.Equal(ScalarType.BFloat16, wideY.dtype);
        // Same products, float32 sums in another order: at most a rounding step of bf16 apart.
        Assert.True(wideY.to(ScalarType.Float32).allclose(nativeY.to(ScalarType.Float32), rtol: 8e-3, atol: 1e-3), "output differs");
        Assert.True(wideX.allclose(nativeX, rtol: 8e-3, atol: 1e-3), "input gradient differs");
        Assert.True(wideW.allclose(nativeW, rtol: 8e-3, atol: 1e-3), "weight gradient differs");
    }

    [Fact]
    public void Widened_linear_leaves_a_frozen_weight_without_gradient()
    {
        var x = randn([4, 8]).to(ScalarType.BFloat16).requires_grad_(true);
        var w = randn([6, 8]).to(ScalarType.BFloat16);
        WidenedLinear.Apply(x, w).to(ScalarType.Float32).sum().backward();
        Assert.NotNull(x.grad);
        Assert.Null(w.grad);
    }

    /// <summary>
    /// A weight of at most WidenedWeightElements takes the float32 GEMMs wherever it runs (oneDNN would compile a kernel
    /// for each new token count); a larger one takes them only where the CPU has no native bf16 GEMM.
    /// </summary>
    [Theory]
    [InlineData(64, 192, true)]      // the embedded default's MLP: 12,288 elements
    [InlineData(128, 128, true)]     // 16,384: the limit
    [InlineData(128, 160, false)]
    public void Small_weights_take_the_widened_products_wherever_bf16_runs(int outFeatures, int inFeatures, bool small)
    {
        var generator = new Generator(5);
        var x = randn([2, 37, inFeatures], generator: generator).to(ScalarType.BFloat16);
        var w = (randn([outFeatures, inFeatures], generator: generator) * 0.1).to(ScalarType.BFloat16);
        var upstream = randn([2, 37, outFeatures], generator: generator).to(ScalarType.BFloat16);
        var widens = small || BFloat16Products.WidenOnCpu;
        Assert.Equal(widens, BFloat16Products.WidensLinear(x, w));
        Assert.False(BFloat16Products.WidensLinear(x.to(ScalarType.Float32), w.to(ScalarType.Float32)));

        var (y, gradX, gradW) = Run(x, w, upstream, BFloat16Products.Linear);
        var (expectedY, expectedX, expectedW) = Run(x, w, upstream, widens ? (a, b) => WidenedLinear.Apply(a, b) : (a, b) => nn.functional.linear(a, b));
        Assert.True(y.eq(expectedY).all().item<bool>(), "output");
        Assert.True(gradX.eq(expectedX).all().item<bool>(), "input gradient");
        Assert.True(gradW.eq(expectedW).all().item<bool>(), "weight gradient");
    }

    private static (Tensor Y, Tensor GradX, Tensor GradW) Run(Tensor x, Tensor w, Tensor upstream, Func<Tensor, Tensor, Tensor> linear)
    {
        var xLeaf = x.detach().clone().requires_grad_(true);
        var wLeaf = w.detach().clone().requires_grad_(true);
        var y = linear(xLeaf, wLeaf);
        y.backward([upstream]);
        return (y.detach(), xLeaf.grad!.to(ScalarType.Float32), wLeaf.grad!.to(ScalarType.Float32));
    }
}
