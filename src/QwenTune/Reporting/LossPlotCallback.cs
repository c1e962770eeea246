using QwenTune.Training;

namespace QwenTune.Reporting;

/// <summary>
/// Draws output_dir/training_loss.png once the final trainer_state.json is written. A failure to draw is reported and
/// leaves the run successful: the model is saved by then, and `qwentune plot` can draw it later.
/// </summary>
public sealed class LossPlotCallback(string outputDir, string title, TextWriter log) : ITrainerCallback
{
    public void OnTrainEnd(TrainSummary summary)
    {
        var statePath = Path.Combine(outputDir, "trainer_state.json");
        var plotPath = Path.Combine(outputDir, LossPlot.FileName);
        try
        {
            LossPlot.Write(plotPath, TrainerState.FromFile(statePath), statePath, title);
            log.WriteLine($"Loss plot: {plotPath}{(LossPlot.MissingFontsNote is { } note ? $" ({note})" : "")}");
        }
        catch (Exception e) when (e is QwenTuneException or IOException or UnauthorizedAccessException or DllNotFoundException or TypeInitializationException)
        {
            log.WriteLine($"Could not draw {plotPath}: {e.Message}");
        }
    }
}
