using QwenTune.Data;
using QwenTune.Text;

namespace QwenTune.Fuzz.Targets;

/// <summary>
/// Training data (JSON Lines or one JSON array): read and validate every record, then render and label the valid
/// ones with the Qwen3 tokenizer and chat template, as training does.
/// </summary>
public sealed class ChatDataTarget : IFuzzTarget
{
    private static readonly Lazy<(QwenTokenizer Tokenizer, ChatTemplate Template)> Qwen3 = new(() =>
    {
        var directory = Path.Combine(CorpusFolders.FindRepositoryRoot(), "tests", "fixtures", "tokenizers", "qwen3");
        var tokenizer = QwenTokenizer.FromDirectory(directory);
        return (tokenizer, ChatTemplate.For(tokenizer, directory));
    });

    public string Name => "chat-data";

    public string Description => "ChatDataReader.Read (JSONL / JSON array) and SftFeaturizer on every valid record";

    public string InputFileName => "data.jsonl";

    public IReadOnlyList<string> Dictionary { get; } =
    [
        "{\"messages\":[", "{\"role\":\"user\",\"content\":\"hi\"}", "{\"role\":\"assistant\",\"content\":\"ok\"}",
        "{\"role\":\"system\",\"content\":\"\"}", "\"tool_calls\"", "\"tools\"", "\"role\"", "\"content\"", "\"tool\"",
        "null", "true", "[", "]", "{", "}", ",", "\n", "\"conversations\"", "\"from\"", "\"value\"", "\"type\":\"text\"",
        "<|im_start|>", "<|im_end|>", "<think>", "\\u0000", "\\ud800", "\r\n", "\xEF\xBB\xBF",
    ];

    public void Prepare(string workFolder) => Directory.CreateDirectory(workFolder);

    public void Execute(string inputPath, byte[] input)
    {
        var dataset = ChatDataReader.Read(inputPath, skipInvalid: true);
        var (tokenizer, template) = Qwen3.Value;
        var featurizer = new SftFeaturizer(tokenizer, template, maxLength: 512, trainOnPrompt: false);
        foreach (var sample in dataset.Samples)
        {
            try
            {
                featurizer.Featurize(sample);
            }
            catch (QwenTuneException)
            {
                // One bad record is refused on its own; the rest still go through.
            }
        }
    }
}
