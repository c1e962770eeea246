using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Tests.Models;

/// <summary>Packed rows (position ids restarting at each sample): samples do not see each other.</summary>
public sealed class PackedAttentionTests
{
    private static readonly long[] SampleA = [5, 17, 42, 9, 77, 3];
    private static readonly long[] OtherA = [8, 1, 200, 64, 12, 150];
    private static readonly long[] SampleB = [31, 7, 99, 250, 4];

    [Theory]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    public void Changing_one_sample_leaves_the_next_samples_logits_unchanged(string type)
    {
        var model = TinyModels.Create(type == "qwen2" ? TinyModels.Qwen2() : TinyModels.Qwen3());
        using var noGrad = no_grad();
        var positions = tensor(new long[] { 0, 1, 2, 3, 4, 5, 0, 1, 2, 3, 4 }).unsqueeze(0);
        Tensor LogitsOfB(long[] a, Tensor? positionIds) =>
            model.Logits(model.Hidden(tensor(a.Concat(SampleB).ToArray()).unsqueeze(0), null, positionIds))[.., SampleA.Length..];
        var packed = LogitsOfB(SampleA, positions);
        Assert.True(packed.eq(LogitsOfB(OtherA, positions)).all().item<bool>(), "sample B's logits depend on sample A's tokens");
        // The independent reference: B run alone, at positions 0..4 with nothing before it.
        var alone = model.Logits(model.Hidden(tensor(SampleB).unsqueeze(0)));
        Assert.True(packed.allclose(alone, rtol: 1e-5, atol: 1e-6), "packed B differs from B alone");
        // The check can fail: without position ids the same row is one sequence, and B sees A.
        Assert.False(LogitsOfB(SampleA, null).allclose(LogitsOfB(OtherA, null), rtol: 1e-5, atol: 1e-6));
    }

    [Fact]
    public void A_row_holding_one_sample_and_padding_matches_the_unpacked_forward()
    {
        var model = TinyModels.Create(TinyModels.Qwen2());
        using var noGrad = no_grad();
        var ids = tensor(SampleA.Concat(new long[] { 0, 0 }).ToArray()).unsqueeze(0);
        var mask = tensor(new long[] { 1, 1, 1, 1, 1, 1, 0, 0 }).unsqueeze(0);
        var positions = tensor(new long[] { 0, 1, 2, 3, 4, 5, 0, 1 }).unsqueeze(0);
        var packed = model.Logits(model.Hidden(ids, mask, positions))[.., ..SampleA.Length];
        var plain = model.Logits(model.Hidden(tensor(SampleA).unsqueeze(0)));
        Assert.True(packed.allclose(plain, rtol: 1e-5, atol: 1e-6));
    }
}
