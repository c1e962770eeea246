namespace QwenTune.Fuzz.Targets;

/// <summary>
/// tokenizer_config.json (beside a fixed small tokenizer.json): load, then encode, decode and render a conversation
/// with its chat template.
/// </summary>
public sealed class TokenizerConfigTarget : IFuzzTarget
{
    public string Name => "tokenizer-config";

    public string Description => "QwenTokenizer.FromDirectory with a fuzzed tokenizer_config.json, then Encode/Decode/chat template";

    public string InputFileName => Path.Combine("tokenizer", "tokenizer_config.json");

    public IReadOnlyList<string> Dictionary { get; } =
    [
        "\"eos_token\"", "\"pad_token\"", "\"bos_token\"", "\"model_max_length\"", "\"chat_template\"",
        "\"added_tokens_decoder\"", "\"content\"", "\"special\"", "\"<|im_end|>\"", "\"<|endoftext|>\"", "\"<|im_start|>\"",
        "null", "true", "false", "131072", "1e30", "-1", "[{\"name\":\"default\",\"template\":\"x\"}]", "{{ messages }}",
        "{%", "%}", "{\"content\":\"<|im_end|>\"}", ":", ",", "{", "}", "[", "]",
    ];

    public void Prepare(string workFolder) => TokenizerFiles.Write(Path.Combine(workFolder, "tokenizer"), TokenizerFiles.TokenizerFileName);

    public void Execute(string inputPath, byte[] input) => TokenizerFiles.LoadAndUse(Path.GetDirectoryName(inputPath)!);
}
