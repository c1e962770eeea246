using QwenTune.Configuration;

namespace QwenTune.Tests.Configuration;

/// <summary>DeepSpeed configs that parsed lazily into a crash (found by fuzzing) are refused with the file named.</summary>
public sealed class DeepSpeedConfigHostileJsonTests
{
    [Theory]
    [InlineData("""{"zero_optimization": {"stage": 2, "stage": 3}}""")]
    [InlineData("""{"fp16": {"enabled": true, "loss_scale": 0, "loss_scale": 1}}""")]
    [InlineData("""{"scheduler": {"type": "WarmupLR"}, "scheduler": {"type": "WarmupLR"}}""")]
    [InlineData("""{"bf16": {"enabled": true}, "\ud800": 1}""")]
    public void A_duplicate_key_or_half_a_surrogate_pair_is_malformed_json(string json)
    {
        using var folder = new TempFolder();
        var path = folder.File("ds.json");
        File.WriteAllText(path, json);
        var error = Assert.Throws<QwenTuneException>(() => DeepSpeedConfig.Load(path));
        Assert.StartsWith($"{path}: malformed JSON", error.Message);
    }

    [Fact]
    public void A_byte_order_mark_and_comments_are_still_accepted()
    {
        using var folder = new TempFolder();
        var path = folder.File("ds.json");
        File.WriteAllText(path, "\uFEFF// ZeRO-2\n{\"zero_optimization\": {\"stage\": 2,},}", new System.Text.UTF8Encoding(encoderShouldEmitUTF8Identifier: false));
        Assert.Equal(2, DeepSpeedConfig.Load(path).ZeroStage);
    }
}
