namespace QwenTune.Fuzz.Targets;

/// <summary>tokenizer.json (beside a fixed tokenizer_config.json): load, then encode and decode text.</summary>
public sealed class TokenizerJsonTarget : IFuzzTarget
{
    public string Name => "tokenizer-json";

    public string Description => "QwenTokenizer.FromDirectory with a fuzzed tokenizer.json, then Encode/Decode";

    public string InputFileName => Path.Combine("tokenizer", "tokenizer.json");

    public IReadOnlyList<string> Dictionary { get; } =
    [
        "\"model\"", "\"type\"", "\"BPE\"", "\"vocab\"", "\"merges\"", "\"added_tokens\"", "\"id\"", "\"content\"",
        "\"special\"", "true", "false", "null", "\"normalizer\"", "\"NFC\"", "\"pre_tokenizer\"", "\"Sequence\"",
        "\"Split\"", "\"ByteLevel\"", "\"decoder\"", "\"ignore_merges\"", "\"byte_fallback\"", "\"dropout\"",
        "\"unk_token\"", "\"Ġ\"", "\"a b\"", "[\"a\",\"b\"]", "\"<|im_end|>\"", "\"<|endoftext|>\"", ":", ",", "{", "}", "[", "]",
    ];

    public void Prepare(string workFolder) => TokenizerFiles.Write(Path.Combine(workFolder, "tokenizer"), TokenizerFiles.ConfigFileName);

    public void Execute(string inputPath, byte[] input) => TokenizerFiles.LoadAndUse(Path.GetDirectoryName(inputPath)!);
}
