using System.Text.Json;
using System.Text.Json.Nodes;
using QwenTune.Configuration;
using QwenTune.Text;

namespace QwenTune.Cli.Commands;

/// <summary>JSON lines {"text": ...} on stdin to {"input_ids": [...]} on stdout, one for one.</summary>
internal sealed class TokenizeCommand : ICommand
{
    public string Name => "tokenize";

    public string Summary => "Tokenize JSON lines {\"text\": ...} from stdin into {\"input_ids\": [...]} on stdout.";

    public Type[] ArgumentGroups => [typeof(ModelArguments)];

    public IReadOnlySet<string>? Flags { get; } = new HashSet<string> { "model_name_or_path", "model_revision", "cache_dir" };

    public int Run(ParsedArguments arguments)
    {
        var model = arguments.Get<ModelArguments>();
        var tokenizer = QwenTokenizer.FromDirectory(RenderCommand.TokenizerFolder(model));
        using var output = new StreamWriter(Console.OpenStandardOutput()) { AutoFlush = false };
        var lineNumber = 0;
        while (Console.In.ReadLine() is { } line)
        {
            lineNumber++;
            if (string.IsNullOrWhiteSpace(line))
                continue;
            var text = ReadText(line, lineNumber);
            var ids = new JsonArray(tokenizer.Encode(text).Select(id => (JsonNode?)id).ToArray());
            output.WriteLine(new JsonObject { ["input_ids"] = ids }.ToJsonString());
        }
        output.Flush();
        return 0;
    }

    private static string ReadText(string line, int lineNumber)
    {
        try
        {
            if (JsonNode.Parse(line) is JsonObject obj && obj["text"] is JsonValue value && value.TryGetValue<string>(out var text))
                return text;
        }
        catch (JsonException e)
        {
            throw new QwenTuneException($"stdin:{lineNumber}: malformed JSON: {e.Message}");
        }
        throw new QwenTuneException($"stdin:{lineNumber}: expected an object with a string field \"text\".");
    }
}
