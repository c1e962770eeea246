using System.Text.Json.Nodes;
using QwenTune.Text;

namespace QwenTune.Tests.Text;

public sealed class ChatTemplateTests
{
    private static IReadOnlyList<JsonObject> Messages =>
    [
        new JsonObject { ["role"] = "user", ["content"] = "Hi" },
        new JsonObject { ["role"] = "assistant", ["content"] = "Hello" },
    ];

    private static string TokenizerFolder(TempFolder folder, Action<JsonObject> editConfig)
    {
        File.Copy(Fixtures.File("tokenizers", "qwen2.5", "tokenizer.json"), folder.File("tokenizer.json"));
        var config = JsonNode.Parse(File.ReadAllText(Fixtures.File("tokenizers", "qwen2.5", "tokenizer_config.json")))!.AsObject();
        editConfig(config);
        File.WriteAllText(folder.File("tokenizer_config.json"), config.ToJsonString());
        return folder.Path;
    }

    [Fact]
    public void Without_a_chat_template_chatml_is_used()
    {
        using var folder = new TempFolder();
        var tokenizer = QwenTokenizer.FromDirectory(TokenizerFolder(folder, c => c.Remove("chat_template")));
        var text = ChatTemplate.For(tokenizer, "test").Render(Messages, null, addGenerationPrompt: true);
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n<|im_start|>assistant\n", text);
    }

    [Fact]
    public void Unsupported_template_syntax_fails_at_load_with_line_and_column()
    {
        using var folder = new TempFolder();
        var tokenizer = QwenTokenizer.FromDirectory(TokenizerFolder(folder, c => c["chat_template"] = "{% for m in messages %}\n{{ m | frobnicate }}{% endfor %}"));
        var error = Assert.Throws<QwenTuneException>(() => ChatTemplate.For(tokenizer, "tokenizer_config.json"));
        Assert.Contains("tokenizer_config.json: chat_template 2:", error.Message);
        Assert.Contains("frobnicate", error.Message);
    }

    [Fact]
    public void Raise_exception_in_a_template_becomes_a_readable_error()
    {
        using var folder = new TempFolder();
        var tokenizer = QwenTokenizer.FromDirectory(TokenizerFolder(folder,
            c => c["chat_template"] = "{% if messages[0].role == 'user' %}{{ raise_exception('System message required') }}{% endif %}"));
        var error = Assert.Throws<QwenTuneException>(() => ChatTemplate.For(tokenizer, "t").Render(Messages, null, false));
        Assert.Contains("System message required", error.Message);
    }
}
