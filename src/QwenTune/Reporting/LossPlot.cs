using QwenTune.IO;
using QwenTune.Training;
using ScottPlot;

namespace QwenTune.Reporting;

/// <summary>
/// training_loss.png, as LLaMA-Factory users know it: the training loss (raw and smoothed) and the evaluation loss
/// against the step, with the learning rate on a second panel below. Drawn by ScottPlot on SkiaSharp's Linux build
/// without native dependencies, so a headless machine needs no fontconfig or X; text uses whatever fonts are installed,
/// and without any the plot is drawn without its labels.
/// </summary>
public static class LossPlot
{
    public const string FileName = "training_loss.png";
    public const int Width = 1000;
    public const int Height = 800;

    private const string TrainerStateFile = "trainer_state.json";

    /// <summary>
    /// Null when fonts are installed; else what to do about it. SkiaSharp's build without native dependencies reads fonts
    /// from /usr/share/fonts itself: a minimal Debian image has none, and the plot is then drawn without text.
    /// </summary>
    public static string? MissingFontsNote => SkiaSharp.SKTypeface.Default.GlyphCount > 0
        ? null
        : "no fonts are installed, so the plot has no labels (on Debian: apt-get install fonts-dejavu-core).";

    public static byte[] Render(LossSeries series, string title)
    {
        var loss = new Plot();
        var multiplot = new Multiplot(loss);
        loss.Font.Set(Fonts.Sans);
        loss.Title(title);
        loss.YLabel("loss");
        if (series.TrainLoss.Count > 0)
        {
            var steps = series.TrainLoss.Select(p => (double)p.Step).ToArray();
            var raw = loss.Add.ScatterLine(steps, series.TrainLoss.Select(p => p.Value).ToArray());
            raw.LegendText = "training loss";
            raw.Color = Colors.SteelBlue.WithAlpha(0.35);
            var smoothed = loss.Add.ScatterLine(steps, series.SmoothedTrainLoss.ToArray());
            smoothed.LegendText = "training loss (smoothed)";
            smoothed.Color = Colors.SteelBlue;
            smoothed.LineWidth = 2;
        }
        if (series.EvalLoss.Count > 0)
        {
            var eval = loss.Add.Scatter(series.EvalLoss.Select(p => (double)p.Step).ToArray(), series.EvalLoss.Select(p => p.Value).ToArray());
            eval.LegendText = "eval loss";
            eval.Color = Colors.OrangeRed;
            eval.MarkerSize = 7;
        }
        loss.ShowLegend(Alignment.UpperRight);

        var rate = multiplot.AddPlot();
        rate.Font.Set(Fonts.Sans);
        rate.XLabel("step");
        rate.YLabel("learning rate");
        if (series.LearningRate.Count > 0)
        {
            var line = rate.Add.ScatterLine(series.LearningRate.Select(p => (double)p.Step).ToArray(), series.LearningRate.Select(p => p.Value).ToArray());
            line.Color = Colors.SeaGreen;
            line.LineWidth = 2;
        }
        rate.Axes.Left.TickGenerator = new ScottPlot.TickGenerators.NumericAutomatic { LabelFormatter = v => v.ToString("0.##E+0", System.Globalization.CultureInfo.InvariantCulture) };
        // One step axis for both panels.
        rate.Axes.Link(loss, x: true, y: false);
        return multiplot.Render(Width, Height).GetImageBytes(ImageFormat.Png);
    }

    /// <summary>Draws <paramref name="state"/> into <paramref name="path"/> (written whole or not at all).</summary>
    public static void Write(string path, TrainerState state, string source, string title) =>
        AtomicFile.WriteAllBytes(path, Render(LossSeries.From(state, source), title));

    /// <summary>
    /// The newest trainer_state.json of a run: output_dir's own (written at the end) or, while the run is live, that of
    /// its newest checkpoint, whichever was written last. <paramref name="runDir"/> may also be a checkpoint folder or
    /// the file itself.
    /// </summary>
    public static (TrainerState State, string Path) LatestState(string runDir)
    {
        if (File.Exists(runDir))
            return (TrainerState.FromFile(runDir), runDir);
        if (!Directory.Exists(runDir))
            throw new QwenTuneException($"'{runDir}': no such folder (give a run's output_dir).");
        var own = Path.Combine(runDir, TrainerStateFile);
        var newestCheckpoint = CheckpointStore.Latest(runDir, removeStale: false) is { } checkpoint ? Path.Combine(checkpoint, TrainerStateFile) : null;
        var candidates = new[] { own, newestCheckpoint }.OfType<string>().Where(File.Exists).ToList();
        if (candidates.Count == 0)
            throw new QwenTuneException(
                $"'{runDir}' has no trainer_state.json nor checkpoint-*/trainer_state.json yet: a run writes one with each checkpoint and at the end.");
        var path = candidates.MaxBy(File.GetLastWriteTimeUtc)!;
        return (TrainerState.FromFile(path), path);
    }
}
