namespace QwenTune.Configuration;

[OptionGroup("Data arguments")]
public sealed record DataArguments
{
    [Option("data_path", "Training data: JSON Lines of {\"messages\": [...]}, or one JSON array of such records.")]
    public string? DataPath { get; init; }

    [Option("eval_data_path", "Evaluation data, same format.")]
    public string? EvalDataPath { get; init; }

    [Option("lazy_preprocess", "Tokenize samples when first used (bounded cache) instead of all at start.")]
    public bool LazyPreprocess { get; init; }

    [Option("model_max_length", "Maximum sequence length in tokens; longer samples are truncated.")]
    public int ModelMaxLength { get; init; } = 8192;

    [Option("pad_to_max_length", "Pad every sample to model_max_length (what Qwen's example does) instead of to the batch's longest.")]
    public bool PadToMaxLength { get; init; }

    [Option("packing", "Concatenate samples into rows of up to model_max_length tokens (best-fit decreasing, as TRL); each sample still " +
                       "attends only to itself, with positions restarting at 0. per_device_train_batch_size then counts rows.")]
    public bool Packing { get; init; }

    [Option("group_by_length", "Shuffle so that each batch holds samples of similar length (less padding).")]
    public bool GroupByLength { get; init; } = true;

    [Option("train_on_prompt", "Compute the loss on every non-padding token (system and user turns too), as Qwen's example did. Default: assistant replies only.")]
    public bool TrainOnPrompt { get; init; }

    [Option("skip_invalid_records", "Leave out invalid records (and say how many) instead of stopping.")]
    public bool SkipInvalidRecords { get; init; }

    [Option("add_generation_prompt", "render: end the text with the assistant header, as for generation.")]
    public bool AddGenerationPrompt { get; init; }
}
