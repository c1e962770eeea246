using System.Text.Json;
using QwenTune.Text;

namespace QwenTune.Tests.Text;

/// <summary>The two real Qwen tokenizers from the fixtures, loaded once per test run (loading takes a fraction of a second).</summary>
internal static class LoadedTokenizers
{
    private static readonly Lazy<QwenTokenizer> Qwen3Lazy = new(() => QwenTokenizer.FromDirectory(Directory("qwen3")));
    private static readonly Lazy<QwenTokenizer> Qwen25Lazy = new(() => QwenTokenizer.FromDirectory(Directory("qwen2.5")));

    public static QwenTokenizer Get(string name) => name switch
    {
        "qwen3" => Qwen3Lazy.Value,
        "qwen2.5" => Qwen25Lazy.Value,
        _ => throw new ArgumentException(name),
    };

    public static string Directory(string name) => Fixtures.File("tokenizers", name);

    /// <summary>parity.jsonl: text and the ids Hugging Face gives under each tokenizer.</summary>
    public static IReadOnlyList<(string Text, int[] Qwen3, int[] Qwen25)> ParityCases { get; } =
        File.ReadLines(Fixtures.File("tokenizers", "parity.jsonl"))
            .Where(line => line.Length > 0)
            .Select(line =>
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                return (root.GetProperty("text").GetString()!,
                        root.GetProperty("qwen3").Deserialize<int[]>()!,
                        root.GetProperty("qwen2.5").Deserialize<int[]>()!);
            })
            .ToList();

    public static int[] Expected((string Text, int[] Qwen3, int[] Qwen25) parityCase, string tokenizer) =>
        tokenizer == "qwen3" ? parityCase.Qwen3 : parityCase.Qwen25;

    /// <summary>chat-templates/rendered.jsonl: rendered conversations and their Hugging Face ids.</summary>
    public static IReadOnlyList<(string Tokenizer, string Name, string Text, int[] Ids)> RenderedChats { get; } =
        File.ReadLines(Fixtures.File("chat-templates", "rendered.jsonl"))
            .Where(line => line.Length > 0)
            .Select(line =>
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                var name = $"{root.GetProperty("conversation").GetString()} generation_prompt={root.GetProperty("add_generation_prompt").GetBoolean()} {root.GetProperty("extra").GetRawText()}";
                return (root.GetProperty("tokenizer").GetString()!, name, root.GetProperty("text").GetString()!,
                        root.GetProperty("input_ids").Deserialize<int[]>()!);
            })
            .ToList();

    /// <summary>Text/Data/hf-tokenizers-fuzz.jsonl: strange strings with the Rust tokenizers library's ids and decodes.</summary>
    public static IReadOnlyList<(string Text, int[] Qwen3, int[] Qwen25, string Qwen3Decoded, string Qwen3DecodedSkipSpecial)> FuzzCases { get; } =
        File.ReadLines(Path.Combine(Fixtures.RepositoryRoot, "tests", "QwenTune.Tests", "Text", "Data", "hf-tokenizers-fuzz.jsonl"))
            .Where(line => line.Length > 0)
            .Select(line =>
            {
                using var doc = JsonDocument.Parse(line);
                var root = doc.RootElement;
                return (root.GetProperty("text").GetString()!,
                        root.GetProperty("qwen3").Deserialize<int[]>()!,
                        root.GetProperty("qwen2.5").Deserialize<int[]>()!,
                        root.GetProperty("qwen3_decoded").GetString()!,
                        root.GetProperty("qwen3_decoded_skip_special").GetString()!);
            })
            .ToList();

    public static TheoryData<string> Names => new() { "qwen3", "qwen2.5" };
}
