using System.Text.Json;
using QwenTune.Text;

namespace QwenTune.Tests.Text;

/// <summary>What FromDirectory reads from tokenizer.json / tokenizer_config.json, and how it reports bad folders.</summary>
public sealed class QwenTokenizerLoadingTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("qwentune-tokenizer-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Theory]
    [InlineData("qwen3", 151669)]
    [InlineData("qwen2.5", 151665)]
    public void Real_tokenizers_expose_their_configuration(string name, int vocabSize)
    {
        var tokenizer = LoadedTokenizers.Get(name);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(LoadedTokenizers.Directory(name), "tokenizer_config.json")));

        // Sizes and ids from the fixtures README: 151,643 BPE entries, <|endoftext|> 151643, <|im_end|> 151645.
        Assert.Equal(vocabSize, tokenizer.VocabSize);
        Assert.Equal("<|im_end|>", tokenizer.EosToken);
        Assert.Equal(151645, tokenizer.EosTokenId);
        Assert.Equal("<|endoftext|>", tokenizer.PadToken);
        Assert.Equal(151643, tokenizer.PadTokenId);
        Assert.Null(tokenizer.BosToken);
        Assert.Equal(config.RootElement.GetProperty("model_max_length").GetInt32(), tokenizer.ModelMaxLength);
        Assert.Equal(config.RootElement.GetProperty("chat_template").GetString(), tokenizer.ChatTemplate);
        Assert.Contains("<|im_start|>", tokenizer.SpecialTokens);
        Assert.DoesNotContain("<tool_call>", tokenizer.SpecialTokens); // "special": false in tokenizer.json
        Assert.Equal(151644, tokenizer.TokenToId("<|im_start|>"));
        Assert.Equal("<|im_start|>", tokenizer.IdToToken(151644));
        Assert.Equal(tokenizer.TokenToId("Ġthe"), tokenizer.Encode(" the").Single());
        Assert.Null(tokenizer.TokenToId("no such token"));
        Assert.Null(tokenizer.IdToToken(vocabSize));
    }

    [Fact]
    public void Small_tokenizer_with_pair_merges_encodes_and_finds_added_tokens()
    {
        WriteTokenizer(MinimalTokenizer());
        WriteConfig("""{"eos_token": {"content": "<|end|>", "special": true}, "model_max_length": 1e30}""");
        var tokenizer = QwenTokenizer.FromDirectory(_folder);

        // "ab" merges ("a b" is the only merge); "<|end|>" is an added token inside the text.
        Assert.Equal([2, 3, 0], tokenizer.Encode("ab<|end|>a"));
        Assert.Equal("ab<|end|>a", tokenizer.Decode([2, 3, 0]));
        Assert.Equal("aba", tokenizer.Decode([2, 3, 0], skipSpecialTokens: true));
        Assert.Equal(3, tokenizer.EosTokenId);
        Assert.Null(tokenizer.ModelMaxLength); // transformers' "no limit" placeholder
        Assert.Null(tokenizer.ChatTemplate);
        Assert.Equal(4, tokenizer.VocabSize);
    }

    [Fact]
    public void Chat_template_lists_give_the_default_template_and_jinja_files_are_read()
    {
        WriteTokenizer(MinimalTokenizer());
        WriteConfig("""{"eos_token": "<|end|>", "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]}""");
        Assert.Equal("D", QwenTokenizer.FromDirectory(_folder).ChatTemplate);

        WriteConfig("""{"eos_token": "<|end|>"}""");
        File.WriteAllText(Path.Combine(_folder, "chat_template.jinja"), "{{ messages }}");
        Assert.Equal("{{ messages }}", QwenTokenizer.FromDirectory(_folder).ChatTemplate);
    }

    [Fact]
    public void Missing_folder_is_named()
    {
        var missing = Path.Combine(_folder, "nope");
        var error = Assert.Throws<QwenTuneException>(() => QwenTokenizer.FromDirectory(missing));
        Assert.Contains(missing, error.Message);
    }

    [Fact]
    public void Missing_tokenizer_json_is_named()
    {
        WriteConfig("""{"eos_token": "<|end|>"}""");
        var error = Assert.Throws<QwenTuneException>(() => QwenTokenizer.FromDirectory(_folder));
        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains("not found", error.Message);
    }

    [Fact]
    public void Malformed_tokenizer_json_is_named_with_its_line()
    {
        File.WriteAllText(Path.Combine(_folder, "tokenizer.json"), "{\n  \"model\": {\n    \"vocab\": {\"a\": 0,, }\n  }\n}");
        WriteConfig("""{"eos_token": "<|end|>"}""");
        var error = Assert.Throws<QwenTuneException>(() => QwenTokenizer.FromDirectory(_folder));
        Assert.Contains("tokenizer.json is not valid JSON at line 3", error.Message);
    }

    [Theory]
    [InlineData("model", "\"model\"")]
    [InlineData("vocab", "\"model.vocab\"")]
    [InlineData("merges", "\"model.merges\"")]
    [InlineData("pre_tokenizer", "\"pre_tokenizer\"")]
    public void Missing_sections_are_named(string section, string expectedInMessage)
    {
        var tokenizer = MinimalTokenizer();
        if (section is "vocab" or "merges")
            ((Dictionary<string, object?>)tokenizer["model"]!).Remove(section);
        else
            tokenizer.Remove(section);
        WriteTokenizer(tokenizer);
        WriteConfig("""{"eos_token": "<|end|>"}""");
        var error = Assert.Throws<QwenTuneException>(() => QwenTokenizer.FromDirectory(_folder));
        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains(expectedInMessage, error.Message);
    }

    [Fact]
    public void Merges_of_unknown_tokens_are_reported_against_the_model()
    {
        var tokenizer = MinimalTokenizer();
        ((Dictionary<string, object?>)tokenizer["model"]!)["merges"] = new[] { "a c" };
        WriteTokenizer(tokenizer);
        WriteConfig("""{"eos_token": "<|end|>"}""");
        var error = Assert.Throws<QwenTuneException>(() => QwenTokenizer.FromDirectory(_folder));
        Assert.Contains("tokenizer.json", error.Message);
        Assert.Contains("'c'", error.Message);
    }

    [Fact]
    public void A_different_pre_tokenizer_regex_is_refused()
    {
        var tokenizer = MinimalTokenizer();
        tokenizer["pre_tokenizer"] = QwenPreTokenizerJson(@"\s+|\w+");
        WriteTokenizer(tokenizer);
        WriteConfig("""{"eos_token": "<|end|>"}""");
        var error = Assert.Throws<QwenTuneException>(() => QwenTokenizer.FromDirectory(_folder));
        Assert.Contains("\"pre_tokenizer\"", error.Message);
    }

    [Fact]
    public void Missing_or_malformed_tokenizer_config_is_named()
    {
        WriteTokenizer(MinimalTokenizer());
        var missing = Assert.Throws<QwenTuneException>(() => QwenTokenizer.FromDirectory(_folder));
        Assert.Contains("tokenizer_config.json", missing.Message);

        WriteConfig("{\"eos_token\": ");
        var malformed = Assert.Throws<QwenTuneException>(() => QwenTokenizer.FromDirectory(_folder));
        Assert.Contains("tokenizer_config.json is not valid JSON", malformed.Message);

        WriteConfig("""{"pad_token": "<|end|>"}""");
        var noEos = Assert.Throws<QwenTuneException>(() => QwenTokenizer.FromDirectory(_folder));
        Assert.Contains("\"eos_token\"", noEos.Message);

        WriteConfig("""{"eos_token": "<|missing|>"}""");
        var unknownEos = Assert.Throws<QwenTuneException>(() => QwenTokenizer.FromDirectory(_folder));
        Assert.Contains("<|missing|>", unknownEos.Message);
    }

    [Fact]
    public void Files_to_copy_name_the_tokenizer_files()
    {
        Assert.Contains("tokenizer.json", QwenTokenizer.FilesToCopy);
        Assert.Contains("tokenizer_config.json", QwenTokenizer.FilesToCopy);
        Assert.Contains("merges.txt", QwenTokenizer.FilesToCopy);
        Assert.Contains("vocab.json", QwenTokenizer.FilesToCopy);
        Assert.DoesNotContain("config.json", QwenTokenizer.FilesToCopy);
    }

    /// <summary>A tokenizer.json in Qwen's shape with a three-entry vocabulary, merges written as pairs.</summary>
    private static Dictionary<string, object?> MinimalTokenizer() => new()
    {
        ["version"] = "1.0",
        ["added_tokens"] = new[] { new { id = 3, content = "<|end|>", special = true, normalized = false } },
        ["normalizer"] = new { type = "NFC" },
        ["pre_tokenizer"] = QwenPreTokenizerJson(QwenPreTokenizer.Pattern),
        ["decoder"] = new { type = "ByteLevel" },
        ["model"] = new Dictionary<string, object?>
        {
            ["type"] = "BPE",
            ["vocab"] = new Dictionary<string, int> { ["a"] = 0, ["b"] = 1, ["ab"] = 2 },
            ["merges"] = new[] { new[] { "a", "b" } },
        },
    };

    private static object QwenPreTokenizerJson(string regex) => new
    {
        type = "Sequence",
        pretokenizers = new object[]
        {
            new { type = "Split", pattern = new { Regex = regex }, behavior = "Isolated", invert = false },
            new { type = "ByteLevel", add_prefix_space = false, trim_offsets = false, use_regex = false },
        },
    };

    private void WriteTokenizer(object tokenizer) =>
        File.WriteAllText(Path.Combine(_folder, "tokenizer.json"), JsonSerializer.Serialize(tokenizer));

    private void WriteConfig(string json) =>
        File.WriteAllText(Path.Combine(_folder, "tokenizer_config.json"), json);
}
