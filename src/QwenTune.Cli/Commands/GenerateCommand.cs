using System.Diagnostics;
using System.Text.Json.Nodes;
using QwenTune.Configuration;
using QwenTune.Data;
using QwenTune.Generation;

namespace QwenTune.Cli.Commands;

/// <summary>
/// Answers every conversation of a ChatML file: one {"messages", "response", "finish_reason", "tokens"} line per
/// record on stdout, in order, decoded --batch_size at a time. A final assistant turn is the record's reference
/// answer: it is left out of the prompt and written as "reference".
/// </summary>
internal sealed class GenerateCommand : ICommand
{
    public string Name => "generate";

    public string Summary => "Generate a reply for each conversation of a ChatML file: JSON Lines {messages, response, finish_reason, tokens} on stdout.";

    public Type[] ArgumentGroups => [.. GenerationSetup.ArgumentGroups, typeof(DataArguments)];

    public IReadOnlySet<string>? Flags { get; } = new HashSet<string>([.. GenerationSetup.Flags, "data_path", "skip_invalid_records", "batch_size"]);

    public int Run(ParsedArguments arguments)
    {
        var (flags, data) = (arguments.Get<GenerationArguments>(), arguments.Get<DataArguments>());
        var dataPath = data.DataPath ?? throw new UsageException("--data_path is required: JSON Lines of {\"messages\": [...]} ending with a user turn.");
        if (flags.BatchSize <= 0)
            throw new UsageException($"--batch_size must be positive, got {flags.BatchSize}.");
        var requests = ChatDataReader.Read(dataPath, data.SkipInvalidRecords, requireAssistant: false).Samples.Select(Request).ToList();
        var setup = GenerationSetup.From(arguments);
        var (tokenizer, template) = (setup.Loaded.Tokenizer, setup.Loaded.Template);
        var clock = Stopwatch.StartNew();
        var generatedTokens = 0;
        foreach (var batch in requests.Chunk(flags.BatchSize))
        {
            var prompts = batch.Select(r => (IReadOnlyList<int>)ChatConversation.PromptIds(tokenizer, template, r.Messages, flags.EnableThinking, r.Tools)).ToList();
            var result = setup.Generator.Generate(prompts, setup.Selector);
            generatedTokens += result.GeneratedTokens;
            foreach (var (request, sequence) in batch.Zip(result.Sequences))
                Console.Out.WriteLine(Line(request, sequence, tokenizer.Decode(sequence.Tokens, skipSpecialTokens: true)));
            Console.Out.Flush();
        }
        var seconds = clock.Elapsed.TotalSeconds;
        Console.Error.WriteLine($"qwentune generate: {requests.Count} conversations, {generatedTokens} tokens in {seconds:F1} s ({generatedTokens / Math.Max(seconds, 1e-9):F1} tokens/s)");
        return 0;
    }

    private sealed record GenerationRequest(IReadOnlyList<JsonObject> Messages, JsonArray? Tools, string? Reference);

    private static GenerationRequest Request(ChatSample sample)
    {
        var messages = sample.Messages.ToList();
        string? reference = null;
        if (messages.Count > 0 && Role(messages[^1]) == "assistant")
        {
            reference = (string?)messages[^1]["content"];
            messages.RemoveAt(messages.Count - 1);
        }
        if (messages.Count == 0 || Role(messages[^1]) is not ("user" or "tool"))
            throw new QwenTuneException($"{sample.Location}: a conversation to answer must end with a user (or tool) turn, after an optional final assistant turn.");
        return new GenerationRequest(messages, sample.Tools, reference);
    }

    private static string? Role(JsonObject message) => (string?)message["role"];

    private static string Line(GenerationRequest request, GeneratedSequence sequence, string response)
    {
        var line = new JsonObject
        {
            ["messages"] = new JsonArray([.. request.Messages.Select(m => m.DeepClone())]),
            ["response"] = response,
            ["finish_reason"] = sequence.FinishReason == FinishReason.Stop ? "stop" : "length",
            ["tokens"] = sequence.Tokens.Count,
        };
        if (request.Reference is not null)
            line["reference"] = request.Reference;
        return line.ToJsonString(JsonOutput.Options);
    }
}
