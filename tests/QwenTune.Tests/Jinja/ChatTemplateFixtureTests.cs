using System.Text.Json.Nodes;
using QwenTune.Jinja;

namespace QwenTune.Tests.Jinja;

/// <summary>
/// Every rendering in fixtures/chat-templates/rendered.jsonl (made by Python Jinja2 exactly as Hugging Face
/// renders chat templates) reproduced byte for byte with the tokenizer's own chat_template.
/// </summary>
public sealed class ChatTemplateFixtureTests
{
    // fixtures/README.md: the tools list given to the template for the "tools" conversation.
    private const string ToolsJson =
        """[{"type":"function","function":{"name":"get_weather","description":"Get weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]""";

    public static TheoryData<int> Lines()
    {
        var data = new TheoryData<int>();
        var count = File.ReadLines(Fixtures.File("chat-templates", "rendered.jsonl")).Count(line => line.Length > 0);
        for (var i = 0; i < count; i++)
            data.Add(i);
        return data;
    }

    [Theory]
    [MemberData(nameof(Lines))]
    public void Rendering_matches_hf_jinja2_byte_for_byte(int lineIndex)
    {
        var line = JsonNode.Parse(File.ReadLines(Fixtures.File("chat-templates", "rendered.jsonl")).Where(l => l.Length > 0).ElementAt(lineIndex))!;
        var tokenizer = line["tokenizer"]!.GetValue<string>();
        var conversations = JsonNode.Parse(File.ReadAllText(Fixtures.File("chat-templates", "conversations.json")))!;
        var context = new Dictionary<string, object?>
        {
            ["messages"] = JinjaValue.FromJson(conversations[line["conversation"]!.GetValue<string>()]),
            ["add_generation_prompt"] = line["add_generation_prompt"]!.GetValue<bool>(),
            ["tools"] = line["tools"] is null ? null : JinjaValue.FromJson(JsonNode.Parse(ToolsJson)),
        };
        foreach (var (key, value) in line["extra"]!.AsObject())
            context[key] = JinjaValue.FromJson(value);

        var text = LoadTemplate(tokenizer).Render(context);

        Assert.Equal(line["text"]!.GetValue<string>(), text);
    }

    [Fact]
    public void Fixture_covers_tools_generation_prompt_and_thinking_switch()
    {
        var lines = File.ReadLines(Fixtures.File("chat-templates", "rendered.jsonl")).Where(l => l.Length > 0).Select(l => JsonNode.Parse(l)!).ToList();
        Assert.Equal(25, lines.Count);
        Assert.Contains(lines, l => l["tools"] is not null && l["tokenizer"]!.GetValue<string>() == "qwen3");
        Assert.Contains(lines, l => l["tools"] is not null && l["tokenizer"]!.GetValue<string>() == "qwen2.5");
        Assert.Contains(lines, l => l["extra"]!.AsObject().ContainsKey("enable_thinking"));
    }

    [Fact]
    public void One_template_renders_the_same_from_many_threads()
    {
        var template = LoadTemplate("qwen3");
        var conversations = JsonNode.Parse(File.ReadAllText(Fixtures.File("chat-templates", "conversations.json")))!.AsObject();
        var contexts = conversations.Select(c => new Dictionary<string, object?>
        {
            ["messages"] = JinjaValue.FromJson(c.Value),
            ["add_generation_prompt"] = true,
        }).ToList();
        var sequential = contexts.Select(template.Render).ToList();
        var parallel = new string[contexts.Count * 50];
        Parallel.For(0, parallel.Length, i => parallel[i] = template.Render(contexts[i % contexts.Count]));
        for (var i = 0; i < parallel.Length; i++)
            Assert.Equal(sequential[i % contexts.Count], parallel[i]);
    }

    internal static Template LoadTemplate(string tokenizer)
    {
        var config = JsonNode.Parse(File.ReadAllText(Fixtures.File("tokenizers", tokenizer, "tokenizer_config.json")))!;
        return Template.Parse(config["chat_template"]!.GetValue<string>(), $"{tokenizer}/chat_template");
    }
}
