using QwenTune.Models;
using QwenTune.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Tests.Models;

/// <summary>A projection built quantized (Q-LoRA's base layer): y = x @ dequant(W)^T + b, no gradient for W.</summary>
public sealed class QwenLinearNf4Tests
{
    private const int In = 192, Out = 80;

    [Theory]
    [InlineData(ScalarType.Float32, 1e-5)]
    [InlineData(ScalarType.BFloat16, 2e-2)]
    public void Forward_equals_input_times_dequantised_weight_transposed_plus_bias(ScalarType dtype, double tolerance)
    {
        using var scope = NewDisposeScope();
        var (layer, dense, bias) = MakeLayer(dtype, withBias: true);
        var x = randn(new long[] { 3, 5, In }, generator: new Generator(21)).to(dtype);     // (B, T, in)

        var y = layer.call(x);                                                             // (B, T, out)
        // Reference in fp64 from the same dequantised weight, so only the layer's own rounding differs.
        var expected = x.to(ScalarType.Float64).matmul(dense.to(ScalarType.Float64).t()) + bias.to(ScalarType.Float64);

        Assert.Equal(dtype, y.dtype);
        Assert.Equal(new long[] { 3, 5, Out }, y.shape);
        AssertClose(expected, y, tolerance);
    }

    [Theory]
    [InlineData(ScalarType.Float32, 1e-5)]
    [InlineData(ScalarType.BFloat16, 2e-2)]
    public void Input_gradient_equals_autograd_through_a_plain_linear_with_the_dequantised_weight(ScalarType dtype, double tolerance)
    {
        using var scope = NewDisposeScope();
        var (layer, dense, bias) = MakeLayer(dtype, withBias: true);
        var x = randn(new long[] { 4, 7, In }, generator: new Generator(22)).to(dtype).requires_grad_(true);
        var upstream = randn(new long[] { 4, 7, Out }, generator: new Generator(23)).to(dtype);

        (layer.call(x) * upstream).sum().backward();

        var xReference = x.detach().clone().requires_grad_(true);
        (nn.functional.linear(xReference, dense, bias) * upstream).sum().backward();

        Assert.Equal(dtype, x.grad!.dtype);
        AssertClose(xReference.grad!, x.grad!, tolerance);
        // The reference gradient is the textbook one: upstream @ W.
        AssertClose(upstream.to(ScalarType.Float64).matmul(dense.to(ScalarType.Float64)), x.grad!, tolerance);
    }

    [Fact]
    public void Only_the_bias_is_registered_and_the_nf4_storage_gets_no_gradient()
    {
        using var scope = NewDisposeScope();
        var (layer, _, _) = MakeLayer(ScalarType.Float32, withBias: true);
        Assert.Equal(["bias"], layer.named_parameters().Select(p => p.name).ToArray());
        Assert.Equal(["bias"], layer.state_dict().Keys.ToArray());
        layer.Bias!.requires_grad_(false);                          // frozen like the rest of the base model

        var x = randn(new long[] { 2, In }, generator: new Generator(24)).requires_grad_(true);
        layer.call(x).sum().backward();

        Assert.NotNull(x.grad);
        Assert.Null(layer.Bias.grad);
        foreach (var stored in layer.QuantizedWeight!.StoredTensors)
        {
            Assert.False(stored.requires_grad);
            Assert.Null(stored.grad);
        }
        using var noBias = new QwenLinear(In, Out, hasBias: false, ScalarType.Float32, CPU, quantized: true);
        noBias.SetQuantizedWeight(randn(Out, In, generator: new Generator(25)));
        Assert.Empty(noBias.state_dict());
    }

    [Fact]
    public void An_unfrozen_bias_gets_the_summed_output_gradient()
    {
        using var scope = NewDisposeScope();
        var (layer, _, _) = MakeLayer(ScalarType.Float32, withBias: true);
        var x = randn(new long[] { 3, 4, In }, generator: new Generator(26));
        var upstream = randn(new long[] { 3, 4, Out }, generator: new Generator(27));

        (layer.call(x) * upstream).sum().backward();

        AssertClose(upstream.sum([0, 1]).to(ScalarType.Float64), layer.Bias!.grad!, 1e-5);
    }

    [Fact]
    public void Backward_keeps_no_output_sized_placeholder_and_works_after_the_forward_scope_is_gone()
    {
        var (layer, dense, _) = MakeLayer(ScalarType.Float32, withBias: false);
        using var x = randn(new long[] { 6, In }, generator: new Generator(28)).requires_grad_(true);
        Tensor loss;
        // Forward inside one scope, backward after it is disposed: nothing backward needs may live in that scope.
        using (var forwardScope = NewDisposeScope())
            loss = layer.call(x).square().sum().MoveToOuterDisposeScope();
        Assert.True(Nf4MatMul.LastReleaseSucceeded);

        loss.backward();
        using var y = x.detach().matmul(dense.t());
        AssertClose((2 * y).matmul(dense).to(ScalarType.Float64), x.grad!, 1e-5);
        loss.Dispose();
        layer.Dispose();
        dense.Dispose();
    }

    [Fact]
    public void Converting_the_module_to_bf16_converts_the_bias_and_keeps_the_nf4_storage()
    {
        using var scope = NewDisposeScope();
        var (layer, _, _) = MakeLayer(ScalarType.Float32, withBias: true);
        var packedBefore = layer.QuantizedWeight!.PackedCodes.data<byte>().ToArray();

        layer.to(ScalarType.BFloat16);

        Assert.Equal(ScalarType.BFloat16, layer.Bias!.dtype);
        Assert.Equal(ScalarType.Byte, layer.QuantizedWeight!.PackedCodes.dtype);
        Assert.Equal(packedBefore, layer.QuantizedWeight.PackedCodes.data<byte>().ToArray());
        var y = layer.call(ones(new long[] { 2, In }, dtype: ScalarType.BFloat16));
        Assert.Equal(ScalarType.BFloat16, y.dtype);
    }

    // A layer quantised from a random weight; returns the dequantised weight and the bias in the requested dtype.
    private static (QwenLinear Layer, Tensor Dense, Tensor Bias) MakeLayer(ScalarType dtype, bool withBias)
    {
        var weight = randn(new long[] { Out, In }, generator: new Generator(20)) * 0.05;
        var bias = randn(new long[] { Out }, generator: new Generator(19)).to(dtype);
        var layer = new QwenLinear(In, Out, withBias, dtype, CPU, quantized: true);
        layer.SetQuantizedWeight(weight);
        if (withBias)
        {
            using var noGrad = no_grad();
            layer.Bias!.copy_(bias);
        }
        // The same quantisation, done independently of the layer, gives the reference weight.
        using var reference = Nf4Tensor.Quantize(weight);
        return (layer, reference.Dequantize(dtype), bias);
    }

    private static void AssertClose(Tensor expected, Tensor actual, double tolerance)
    {
        using var e = expected.detach().to(ScalarType.Float64);
        using var a = actual.detach().to(ScalarType.Float64);
        var scale = Math.Max(1.0, e.abs().max().item<double>());
        var difference = (e - a).abs().max().item<double>();
        Assert.True(difference <= tolerance * scale, $"max |difference| {difference} > {tolerance} * {scale}");
    }
}
