namespace QwenTune.Configuration;

/// <summary>
/// Everything `train` was asked: the four argument groups, as Qwen's finetune.py reads them, and which flags were
/// given explicitly (an explicit value may conflict with one that a loaded adapter brings; a default never does).
/// </summary>
public sealed record TrainingRequest(ModelArguments Model, DataArguments Data, TrainingArguments Training, LoraArguments Lora, IReadOnlySet<string> Given)
{
    public static readonly Type[] Groups = [typeof(ModelArguments), typeof(DataArguments), typeof(TrainingArguments), typeof(LoraArguments)];

    public static TrainingRequest From(ParsedArguments parsed) =>
        new(parsed.Get<ModelArguments>(), parsed.Get<DataArguments>(), parsed.Get<TrainingArguments>(), parsed.Get<LoraArguments>(), parsed.Given);

    /// <summary>Parses `train` flags (what tests and benchmarks call with command-line style arguments).</summary>
    public static TrainingRequest Parse(IReadOnlyList<string> args) => From(new HfArgumentParser(Groups).Parse(args));
}
