using System.Text.Json;
using System.Text.Json.Nodes;
using QwenTune.Data;
using QwenTune.Tests.Text;
using QwenTune.Text;

namespace QwenTune.Tests.Data;

public sealed class SftFeaturizerTests
{
    private static readonly JsonObject Conversations =
        JsonNode.Parse(File.ReadAllText(Fixtures.File("chat-templates", "conversations.json")))!.AsObject();

    private static SftFeaturizer Featurizer(string tokenizerName, int maxLength = 4096, bool trainOnPrompt = false)
    {
        var tokenizer = LoadedTokenizers.Get(tokenizerName);
        return new SftFeaturizer(tokenizer, ChatTemplate.For(tokenizer, tokenizerName), maxLength, trainOnPrompt);
    }

    /// <summary>The tools list the fixtures' README says the "tools" conversation was rendered with.</summary>
    private static readonly JsonArray Tools = JsonNode.Parse("""
        [{"type":"function","function":{"name":"get_weather","description":"Get weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]
        """)!.AsArray();

    private static ChatSample Sample(JsonArray messages, JsonArray? tools = null) =>
        new(messages.Select(m => m!.AsObject()).ToList(), tools, null, null, new SampleLocation("test.jsonl", 1));

    public static TheoryData<int> LabelLines => new() { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };

    /// <summary>labels.jsonl end to end: our chat template rendering, tokenizer and labelling against the fixture.</summary>
    [Theory]
    [MemberData(nameof(LabelLines))]
    public void Labels_reproduce_fixture(int lineIndex)
    {
        var line = File.ReadLines(Fixtures.File("chat-templates", "labels.jsonl")).ElementAt(lineIndex);
        using var doc = JsonDocument.Parse(line);
        var root = doc.RootElement;
        var tokenizerName = root.GetProperty("tokenizer").GetString()!;
        var expectedIds = root.GetProperty("input_ids").Deserialize<int[]>()!;
        var expectedLabels = root.GetProperty("labels").Deserialize<int[]>()!;
        var conversation = root.GetProperty("conversation").GetString()!;
        var messages = Conversations[conversation]!.AsArray();
        var tools = conversation == "tools" ? Tools : null;
        var featurizer = Featurizer(tokenizerName);
        var rendered = LoadedTokenizers.Get(tokenizerName).Normalize(
            ChatTemplate.For(LoadedTokenizers.Get(tokenizerName), tokenizerName).Render(messages.Select(m => m!.AsObject()).ToList(), tools, false));
        Assert.Equal(root.GetProperty("text").GetString(), rendered);
        var example = featurizer.Label(rendered, new SampleLocation("labels.jsonl", lineIndex + 1));
        if (expectedLabels.All(l => l == -100))
        {
            Assert.Null(example);   // prompt_only: nothing to learn, so the sample is dropped
            return;
        }
        Assert.NotNull(example);
        Assert.Equal(expectedIds, example.InputIds);
        Assert.Equal(expectedLabels, example.Labels);
        Assert.Equal(expectedIds, featurizer.Featurize(Sample(messages, tools))!.InputIds);
    }

    [Fact]
    public void A_reply_starting_with_newlines_that_merge_with_the_header_is_still_a_target()
    {
        var featurizer = Featurizer("qwen2.5");
        var example = featurizer.Featurize(Sample(new JsonArray(
            new JsonObject { ["role"] = "user", ["content"] = "Hi" },
            new JsonObject { ["role"] = "assistant", ["content"] = "\n\nHello" })))!;
        var tokenizer = LoadedTokenizers.Get("qwen2.5");
        var header = Array.LastIndexOf(example.InputIds, 77091);   // "assistant"
        // "\n" of the header and the reply's "\n\n" become one token "\n\n\n" (1406): it holds reply text, so it is a target.
        Assert.Equal("\n\n\n", tokenizer.Decode([example.InputIds[header + 1]]));
        Assert.Equal(example.InputIds[header + 1], example.Labels[header + 1]);
        Assert.Equal(-100, example.Labels[header]);
        Assert.Equal("\n\n\nHello<|im_end|>", tokenizer.Decode(example.Labels.Where(l => l != -100)));
    }

    [Fact]
    public void Train_on_prompt_makes_every_token_a_target()
    {
        var example = Featurizer("qwen3", trainOnPrompt: true).Featurize(Sample(Conversations["basic"]!.AsArray()))!;
        Assert.Equal(example.InputIds, example.Labels);
    }

    [Fact]
    public void Truncation_keeps_the_head_and_drops_samples_left_without_targets()
    {
        var full = Featurizer("qwen2.5").Featurize(Sample(Conversations["multi_turn"]!.AsArray()))!;
        var truncated = Featurizer("qwen2.5", maxLength: 30).Featurize(Sample(Conversations["multi_turn"]!.AsArray()))!;
        Assert.Equal(full.InputIds[..30], truncated.InputIds);
        Assert.Equal(full.Labels[..30], truncated.Labels);
        // The system and first user turn alone hold no assistant token.
        Assert.Null(Featurizer("qwen2.5", maxLength: 12).Featurize(Sample(Conversations["multi_turn"]!.AsArray())));
    }
}
