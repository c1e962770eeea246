using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Tests.Models;

public sealed class QwenConfigTests
{
    private static QwenConfig Parse(string json)
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("config.json"), json);
        return QwenConfig.FromDirectory(folder.Path);
    }

    private const string Base = """
        "model_type": "qwen2", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
        "num_attention_heads": 4, "num_key_value_heads": 2, "vocab_size": 100
        """;

    [Fact]
    public void Fixture_configs_read_as_their_architectures()
    {
        var qwen2 = QwenConfig.FromDirectory(Fixtures.File("models", "tiny-qwen2"));
        Assert.True(qwen2.QkvBias);
        Assert.False(qwen2.OutputBias);
        Assert.True(qwen2.TieWordEmbeddings);
        Assert.Equal(8, qwen2.HeadDim);
        var qwen3 = QwenConfig.FromDirectory(Fixtures.File("models", "tiny-qwen3"));
        Assert.True(qwen3.IsQwen3);
        Assert.False(qwen3.QkvBias);
        Assert.Equal(16, qwen3.HeadDim);            // explicit, not 32 / 4
        Assert.Equal("bfloat16", qwen3.TorchDtype);
        Assert.Contains("sliding_window", qwen3.Extra!.Keys);   // kept for saving
    }

    [Fact]
    public void Linear_rope_scaling_divides_positions_by_the_factor()
    {
        var scaled = Parse("{" + Base + """, "rope_scaling": {"type": "linear", "factor": 4.0}}""");
        var plain = Parse("{" + Base + "}");
        var (cosScaled, _) = new RotaryEmbedding(scaled, CPU).Compute(tensor(new long[] { 8 }).unsqueeze(0), ScalarType.Float32);
        var (cosPlain, _) = new RotaryEmbedding(plain, CPU).Compute(tensor(new long[] { 2 }).unsqueeze(0), ScalarType.Float32);
        Assert.True(cosScaled.allclose(cosPlain, rtol: 1e-6, atol: 1e-6));
    }

    [Theory]
    [InlineData(""", "rope_scaling": {"rope_type": "yarn", "factor": 4.0}""", "rope_scaling type 'yarn' is not supported")]
    [InlineData(""", "hidden_act": "gelu" """, "hidden_act 'gelu' is not supported")]
    [InlineData(""", "num_key_value_heads": 3""", "must be a multiple of num_key_value_heads (3)")]
    [InlineData(""", "use_sliding_window": true""", "use_sliding_window=true is not supported")]
    [InlineData(""", "hidden_size": "big" """, "invalid config at 'hidden_size'")]
    public void Unsupported_or_malformed_configs_are_refused_by_name(string extra, string expected)
    {
        var error = Assert.Throws<QwenTuneException>(() => Parse("{" + Base + extra + "}"));
        Assert.Contains(expected, error.Message);
        Assert.Contains("config.json", error.Message);
    }

    [Fact]
    public void Other_model_types_are_refused()
    {
        var error = Assert.Throws<QwenTuneException>(() => Parse("{" + Base.Replace("qwen2", "llama") + "}"));
        Assert.Contains("model_type 'llama' is not supported", error.Message);
    }
}
