using System.Text.Json.Nodes;
using QwenTune.Data;
using QwenTune.Text;

namespace QwenTune.Fuzz.Targets;

/// <summary>
/// The fixed half of the two tokenizer targets (fuzz/corpus/tokenizer-*/fixed/): a small Qwen-style tokenizer.json
/// (the 256 byte tokens, a few hundred merges, Qwen's added tokens) and Qwen3's tokenizer_config.json; and what the
/// targets do with a loaded tokenizer.
/// </summary>
internal static class TokenizerFiles
{
    public const string TokenizerFileName = "tokenizer.json";
    public const string ConfigFileName = "tokenizer_config.json";

    private static readonly string FixedFolder = Path.Combine(CorpusFolders.FindRepositoryRoot(), "fuzz", "corpus", "tokenizer-fixed");

    private static readonly JsonObject Conversation = JsonNode.Parse("""{"role":"user","content":"Hi <think> there"}""")!.AsObject();

    /// <summary>Copies the fixed file named <paramref name="fileName"/> into <paramref name="folder"/> unless it is there.</summary>
    public static void Write(string folder, string fileName)
    {
        Directory.CreateDirectory(folder);
        var destination = Path.Combine(folder, fileName);
        if (!File.Exists(destination))
            File.Copy(Path.Combine(FixedFolder, fileName), destination);
    }

    public static void LoadAndUse(string folder)
    {
        var tokenizer = QwenTokenizer.FromDirectory(folder);
        var text = "Hello wörld 123 <|im_end|> 中文 \ud83d\ude00 " + new string('x', 300);
        var ids = tokenizer.Encode(text);
        tokenizer.Decode(ids, skipSpecialTokens: true);
        tokenizer.EncodeWithOffsets(tokenizer.Normalize(text));
        var template = ChatTemplate.For(tokenizer, folder);
        var rendered = template.Render([Conversation], tools: null, addGenerationPrompt: true);
        new SftFeaturizer(tokenizer, template, maxLength: 64, trainOnPrompt: true).Label(tokenizer.Normalize(rendered), new SampleLocation(folder, 1));
    }
}
