using QwenTune.Configuration;
using QwenTune.Reporting;

namespace QwenTune.Cli.Commands;

/// <summary>Draws a run's training_loss.png from its trainer_state.json, while it runs (newest checkpoint) or after.</summary>
internal sealed class PlotCommand : ICommand
{
    public string Name => "plot";

    public string Summary => "Draw OUTPUT_DIR/training_loss.png (loss, eval loss, learning rate) from a running or finished run's trainer_state.json.";

    public Type[] ArgumentGroups => [typeof(TrainingArguments)];

    public IReadOnlySet<string>? Flags { get; } = new HashSet<string> { "output_dir", "run_name" };

    public string? PositionalFlag => "output_dir";

    public int Run(ParsedArguments arguments)
    {
        var training = arguments.Get<TrainingArguments>();
        var (state, source) = LossPlot.LatestState(training.OutputDir);
        var runDir = Directory.Exists(training.OutputDir) ? training.OutputDir : Path.GetDirectoryName(Path.GetFullPath(training.OutputDir))!;
        var path = Path.Combine(runDir, LossPlot.FileName);
        LossPlot.Write(path, state, source, training.RunName ?? training.OutputDir);
        Console.Error.WriteLine($"Drew {path} from {source} (step {state.GlobalStep} of {state.MaxSteps}).");
        if (LossPlot.MissingFontsNote is { } note)
            Console.Error.WriteLine($"Note: {note}");
        return 0;
    }
}
