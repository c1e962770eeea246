namespace QwenTune.Configuration;

/// <summary>
/// Flags of `qwentune chat` and `generate`. The sampling flags are null unless given: the model's
/// generation_config.json decides, as with Hugging Face's generate.
/// </summary>
[OptionGroup("Generation arguments")]
public sealed record GenerationArguments
{
    [Option("max_new_tokens", "Most tokens generated per reply (default: generation_config.json's, else 512).")]
    public int? MaxNewTokens { get; init; }

    [Option("min_new_tokens", "No end of reply before this many tokens: the eos ids are barred until then (default: generation_config.json's, else 0).")]
    public int? MinNewTokens { get; init; }

    [Option("do_sample", "Sample from the processed distribution; False: greedy (default: generation_config.json's, else False).")]
    public bool? DoSample { get; init; }

    [Option("temperature", "Divide the logits by this before sampling (default: generation_config.json's, else 1.0).")]
    public double? Temperature { get; init; }

    [Option("top_k", "Sample among the k most likely tokens; 0 for all (default: generation_config.json's, else 50).")]
    public int? TopK { get; init; }

    [Option("top_p", "Sample among the smallest set of tokens whose probability reaches p (default: generation_config.json's, else 1.0).")]
    public double? TopP { get; init; }

    [Option("min_p", "Drop tokens less likely than min_p times the most likely one (default: generation_config.json's, else off).")]
    public double? MinP { get; init; }

    [Option("repetition_penalty", "Penalise tokens already in the prompt or reply, as the CTRL paper (default: generation_config.json's, else 1.0).")]
    public double? RepetitionPenalty { get; init; }

    [Option("system", "chat: the system prompt (default: the chat template's own, if it has one).")]
    public string? System { get; init; }

    [Option("prompt", "chat: answer this one user message, print the reply and exit (no interactive session).")]
    public string? Prompt { get; init; }

    [Option("enable_thinking", "Qwen3 chat templates: passed to the template as enable_thinking (default: the template's own).")]
    public bool? EnableThinking { get; init; }

    [Option("batch_size", "generate: conversations decoded together (left-padded to the longest prompt).")]
    public int BatchSize { get; init; } = 8;
}
