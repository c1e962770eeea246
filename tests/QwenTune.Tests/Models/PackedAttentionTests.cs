using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Tests.Models;

/// <summary>Packed rows (position ids restarting at each sample): samples do not see each other.</summary>
public sealed class PackedAttentionTests
{
    private static readonly long[] SampleB = [31, 7, 99, 250, 4];

    private static long[] RandomIds(int length, int seed)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, length).Select(_ => (long)random.Next(1, 300)).ToArray();
    }

    /// <summary>Rows of 11 tokens attend through a block mask, rows of 405 or more (384 and longer) through a causal attention per sample.</summary>
    [Theory]
    [InlineData("qwen2", 6)]
    [InlineData("qwen3", 6)]
    [InlineData("qwen2", 400)]
    [InlineData("qwen3", 450)]
    public void Changing_one_sample_leaves_the_next_samples_logits_unchanged(string type, int lengthOfA)
    {
        var model = TinyModels.Create(type == "qwen2" ? TinyModels.Qwen2() : TinyModels.Qwen3());
        using var noGrad = no_grad();
        var (sampleA, otherA) = (RandomIds(lengthOfA, 1), RandomIds(lengthOfA, 2));
        var positions = tensor(Enumerable.Range(0, lengthOfA).Concat(Enumerable.Range(0, SampleB.Length)).Select(p => (long)p).ToArray()).unsqueeze(0);
        Tensor LogitsOfB(long[] a, Tensor? positionIds) =>
            model.Logits(model.Hidden(tensor(a.Concat(SampleB).ToArray()).unsqueeze(0), null, positionIds))[.., lengthOfA..];
        var packed = LogitsOfB(sampleA, positions);
        Assert.True(packed.eq(LogitsOfB(otherA, positions)).all().item<bool>(), "sample B's logits depend on sample A's tokens");
        // The independent reference: B run alone, at positions 0..4 with nothing before it.
        var alone = model.Logits(model.Hidden(tensor(SampleB).unsqueeze(0)));
        Assert.True(packed.allclose(alone, rtol: 1e-5, atol: 1e-6), "packed B differs from B alone");
        // The check can fail: without position ids the same row is one sequence, and B sees A.
        Assert.False(LogitsOfB(sampleA, null).allclose(LogitsOfB(otherA, null), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void A_row_holding_one_sample_and_padding_matches_the_unpacked_forward()
    {
        var model = TinyModels.Create(TinyModels.Qwen2());
        using var noGrad = no_grad();
        var sample = RandomIds(6, 3);
        var ids = tensor(sample.Concat(new long[] { 0, 0 }).ToArray()).unsqueeze(0);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 0, 0 }).unsqueeze(0);
        var positions = tensor(new long[] { 0, 1, 2, 3, 4, 5, 0, 1 }).unsqueeze(0);
        var packed = model.Logits(model.Hidden(ids, mask, positions))[.., ..sample.Length];
        var plain = model.Logits(model.Hidden(tensor(sample).unsqueeze(0)));
        Assert.True(packed.allclose(plain, rtol: 1e-5, atol: 1e-6));
    }
}
