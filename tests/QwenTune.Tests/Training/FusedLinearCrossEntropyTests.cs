using QwenTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Tests.Training;

public sealed class FusedLinearCrossEntropyTests
{
    /// <summary>Against libtorch's own cross_entropy on materialised float32 logits (the reference).</summary>
    [Theory]
    [InlineData(ScalarType.Float32, 7, 5000, 1e-5)]     // several vocabulary blocks (blocks are >= 1024 wide)
    [InlineData(ScalarType.Float32, 3000, 1500, 1e-5)]  // many rows: blocks shrink to the 1024 minimum
    [InlineData(ScalarType.BFloat16, 9, 4100, 2e-2)]
    public void Loss_and_gradients_match_cross_entropy_on_full_logits(ScalarType dtype, int rows, int vocabulary, double tolerance)
    {
        var generator = new Generator(5);
        var x1 = randn([rows, 16], generator: generator).to(dtype).requires_grad_(true);
        var w1 = (randn([vocabulary, 16], generator: generator) * 0.5).to(dtype).requires_grad_(true);
        var targets = randint(0, vocabulary, [rows], generator: generator);
        targets[0] = tensor(vocabulary - 1L);   // the last column of the last block
        var x2 = x1.detach().clone().requires_grad_(true);
        var w2 = w1.detach().clone().requires_grad_(true);

        var fused = FusedLinearCrossEntropy.NllSum(x1, w1, targets);
        var reference = nn.functional.cross_entropy(nn.functional.linear(x2, w2).to(ScalarType.Float32), targets, reduction: nn.Reduction.Sum);
        (fused * 0.5).backward();
        (reference * 0.5).backward();

        Assert.Equal(reference.item<float>(), fused.item<float>(), reference.item<float>() * tolerance);
        Assert.True(x1.grad!.to(ScalarType.Float32).allclose(x2.grad!.to(ScalarType.Float32), rtol: tolerance * 10, atol: tolerance),
            "input gradient differs");
        Assert.True(w1.grad!.to(ScalarType.Float32).allclose(w2.grad!.to(ScalarType.Float32), rtol: tolerance * 10, atol: tolerance),
            "weight gradient differs");
    }

    [Fact]
    public void Frozen_weight_gets_no_gradient()
    {
        var x = randn([4, 8]).requires_grad_(true);
        var w = randn([2000, 8]);
        FusedLinearCrossEntropy.NllSum(x, w, tensor(new long[] { 1, 2, 1999, 0 })).backward();
        Assert.NotNull(x.grad);
        Assert.Null(w.grad);
    }
}
