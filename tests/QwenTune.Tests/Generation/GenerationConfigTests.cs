using QwenTune.Configuration;
using QwenTune.Generation;

namespace QwenTune.Tests.Generation;

public sealed class GenerationConfigTests
{
    [Fact]
    public void Reads_qwen_instruct_defaults_and_eos_list()
    {
        // examples/tiny-qwen2.5 carries Qwen2.5-Instruct's generation_config.json.
        var config = GenerationConfig.FromDirectory(Path.Combine(Fixtures.RepositoryRoot, "examples", "tiny-qwen2.5"));
        Assert.True(config.DoSample);
        Assert.Equal(0.7, config.Temperature);
        Assert.Equal(0.8, config.TopP);
        Assert.Equal(20, config.TopK);
        Assert.Equal(1.05, config.RepetitionPenalty);
        Assert.Null(config.MinP);
        Assert.Equal([151645, 151643], config.EosTokenIds);
        Assert.Equal(151643, config.PadTokenId);
    }

    [Fact]
    public void Missing_file_gives_hugging_face_defaults_and_flags_override()
    {
        using var folder = new TempFolder();
        var config = GenerationConfig.FromDirectory(folder.Path);
        Assert.False(config.DoSample);
        Assert.Equal((1.0, 50, 1.0, 1.0), (config.Temperature, config.TopK, config.TopP, config.RepetitionPenalty));
        Assert.Equal(0, config.MinNewTokens);
        var flagged = config.With(new GenerationArguments { DoSample = true, TopK = 5, MinP = 0.05, MinNewTokens = 7 });
        Assert.Equal((true, 5, 0.05, 1.0, 7), (flagged.DoSample, flagged.TopK, flagged.MinP, flagged.Temperature, flagged.MinNewTokens));
    }

    [Theory]
    [InlineData("{\"temperature\": \"hot\"}", "\"temperature\" must be a number")]
    [InlineData("{\"eos_token_id\": [1, \"x\"]}", "\"eos_token_id\" must be a token id or a list of token ids")]
    [InlineData("{\"do_sample\": true, \"top_p\": 1.5}", "top_p must be in (0, 1]")]
    [InlineData("{\"do_sample\": 1}", "\"do_sample\" must be true or false")]
    [InlineData("{\"min_new_tokens\": -1}", "min_new_tokens must be 0 or positive")]
    public void Bad_fields_name_file_and_field(string json, string message)
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File(GenerationConfig.FileName), json);
        var error = Assert.Throws<QwenTuneException>(() => GenerationConfig.FromDirectory(folder.Path));
        Assert.Contains(folder.File(GenerationConfig.FileName), error.Message);
        Assert.Contains(message, error.Message);
    }

    [Fact]
    public void Sampling_without_a_positive_temperature_is_refused()
    {
        var error = Assert.Throws<QwenTuneException>(() => new GenerationConfig().With(new GenerationArguments { DoSample = true, Temperature = 0 }));
        Assert.Contains("--do_sample False", error.Message);
    }
}
