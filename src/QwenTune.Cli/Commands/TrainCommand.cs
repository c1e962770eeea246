using QwenTune.Configuration;
using QwenTune.Reporting;
using QwenTune.Training;

namespace QwenTune.Cli.Commands;

/// <summary>Supervised fine-tuning with Hugging Face TrainingArguments (full, LoRA or Q-LoRA).</summary>
internal sealed class TrainCommand : ICommand
{
    public string Name => "train";

    public string Summary => "Fine-tune a model on ChatML data (full, --use_lora, --q_lora), with HF TrainingArguments flags.";

    public Type[] ArgumentGroups => TrainingRequest.Groups;

    /// <summary>Every flag of the four groups but the ones only eval, merge and render read.</summary>
    public IReadOnlySet<string>? Flags { get; } =
        HfArgumentParser.DeclaredOptions(TrainingRequest.Groups).Except(["adapter_name_or_path", "add_generation_prompt"]).ToHashSet();

    public int Run(ParsedArguments arguments)
    {
        var request = TrainingRequest.From(arguments);
        var live = ConsoleProgress.IsLive(request.Training.DisableTqdm, Console.IsErrorRedirected, Environment.GetEnvironmentVariable("TERM"));
        var plotTitle = request.Training.RunName ?? request.Training.OutputDir;
        ITrainerCallback[] callbacks = [new ConsoleProgress(live), new LossPlotCallback(request.Training.OutputDir, plotTitle, Console.Error)];
        return TrainingSession.Run(request, callbacks, Console.Error, handleSignals: true).ExitCode;
    }
}
