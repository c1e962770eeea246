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

    /// <summary>
    /// bf16 attention over a short sequence takes Hugging Face's eager composition rather than libtorch's flash kernel:
    /// against float64 (causal, and with a padding mask), its output and gradients are as close as flash's are.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Composed_bf16_attention_is_as_close_to_float64_as_flash_attention(bool padded)
    {
        var generator = new Generator(31);
        var (batch, heads, time, dim) = (2, 4, 37, 16);
        var q = randn([batch, heads, time, dim], generator: generator).to(ScalarType.BFloat16);
        var k = randn([batch, heads, time, dim], generator: generator).to(ScalarType.BFloat16);
        var v = randn([batch, heads, time, dim], generator: generator).to(ScalarType.BFloat16);
        var upstream = randn([batch, heads, time, dim], generator: generator).to(ScalarType.BFloat16);
        Tensor? mask = null;
        if (padded)
        {
            // The second sample left-padded by 5: causal, keys valid, and each query sees itself (as QwenModel builds it).
            var valid = ones([batch, time], ScalarType.Bool);
            valid[1, ..5] = tensor(false);
            mask = (ones(time, time, ScalarType.Bool).tril().unsqueeze(0) & valid.unsqueeze(1) | eye(time, time, ScalarType.Bool).unsqueeze(0)).unsqueeze(1);
        }
        Assert.True(BFloat16Products.ComposedAttentionApplies(q, k) || BFloat16Products.WidenOnCpu, "the composed path is not the one taken");

        (Tensor Y, Tensor Q, Tensor K, Tensor V) Run(ScalarType dtype, Func<Tensor, Tensor, Tensor, Tensor> attention)
        {
            var (a, b, c) = (q.to(dtype).requires_grad_(true), k.to(dtype).requires_grad_(true), v.to(dtype).requires_grad_(true));
            var y = attention(a, b, c);
            y.backward([upstream.to(dtype)]);
            return (y.detach().to(ScalarType.Float64), a.grad!.to(ScalarType.Float64), b.grad!.to(ScalarType.Float64), c.grad!.to(ScalarType.Float64));
        }
        var truth = Run(ScalarType.Float64, (a, b, c) => mask is null
            ? nn.functional.scaled_dot_product_attention(a, b, c, is_casual: true)
            : nn.functional.scaled_dot_product_attention(a, b, c, attn_mask: mask));
        var composed = Run(ScalarType.BFloat16, (a, b, c) => BFloat16Products.Attention(a, b, c, mask));
        var flash = Run(ScalarType.BFloat16, (a, b, c) => mask is null
            ? nn.functional.scaled_dot_product_attention(a, b, c, is_casual: true)
            : nn.functional.scaled_dot_product_attention(a, b, c, attn_mask: mask));
        foreach (var (name, exact, ours, theirs) in new[] { ("output", truth.Y, composed.Y, flash.Y), ("q gradient", truth.Q, composed.Q, flash.Q),
                     ("k gradient", truth.K, composed.K, flash.K), ("v gradient", truth.V, composed.V, flash.V) })
        {
            var (error, flashError) = ((ours - exact).abs().max().item<double>(), (theirs - exact).abs().max().item<double>());
            var scale = exact.abs().max().item<double>();
            Assert.True(error <= 2 * flashError + 0.01 * scale, $"{name}: composed {error:E2}, flash {flashError:E2} from float64 (max {scale:E2})");
            Assert.True(error <= 0.03 * scale, $"{name}: composed {error:E2} from float64 (max {scale:E2})");
        }
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
