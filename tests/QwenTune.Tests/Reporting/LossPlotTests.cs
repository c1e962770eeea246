using System.Text.Json.Nodes;
using QwenTune.Reporting;
using QwenTune.Training;

namespace QwenTune.Tests.Reporting;

public sealed class LossPlotTests
{
    /// <summary>LLaMA-Factory's smoothing by hand for three points: weight 1.8 (1 / (1 + e^-0.15) - 0.5).</summary>
    [Fact]
    public void Smoothing_is_llama_factory_ema_with_a_weight_that_grows_with_the_points()
    {
        var weight = 1.8 * (1 / (1 + Math.Exp(-0.15)) - 0.5);   // 1.8 x 0.037430 = 0.067374
        Assert.Equal(0.067374, weight, 1e-6);
        var first = 4.0;
        var second = weight * first + (1 - weight) * 2.0;
        var third = weight * second + (1 - weight) * 3.0;
        Assert.Equal([first, second, third], LossSeries.Smooth([4.0, 2.0, 3.0]));
        Assert.Empty(LossSeries.Smooth([]));
        // With many points the weight nears 0.9: a single outlier moves the curve by a tenth of its jump.
        var flat = Enumerable.Repeat(1.0, 199).Append(11.0).ToList();
        Assert.Equal(1 + 10 * (1 - 1.8 * (1 / (1 + Math.Exp(-10.0)) - 0.5)), LossSeries.Smooth(flat)[^1], 1e-12);
    }

    [Fact]
    public void Png_decodes_at_the_expected_size_with_both_loss_series_drawn()
    {
        var state = new TrainerState { GlobalStep = 40, MaxSteps = 40 };
        for (var step = 1; step <= 40; step++)
        {
            state.LogHistory.Add(new JsonObject { ["loss"] = 3 * Math.Exp(-step / 15.0) + 0.2 * (step % 3), ["learning_rate"] = 1e-4 * (1 - step / 40.0), ["step"] = step });
            if (step % 10 == 0)
                state.LogHistory.Add(new JsonObject { ["eval_loss"] = 3 * Math.Exp(-step / 15.0) + 0.3, ["step"] = step });
        }
        var series = LossSeries.From(state, "test");
        Assert.Equal(40, series.TrainLoss.Count);
        Assert.Equal([10, 20, 30, 40], series.EvalLoss.Select(p => p.Step));
        Assert.Equal(40, series.LearningRate.Count);

        var png = PngDecoder.Decode(LossPlot.Render(series, "a run"));
        Assert.Equal((LossPlot.Width, LossPlot.Height), (png.Width, png.Height));
        // Each series' colour spans most of the width (a legend swatch alone would not), in its own panel: loss above,
        // learning rate below.
        AssertDrawnAcross(png, (70, 130, 180), upperPanel: true);    // the smoothed training loss (SteelBlue)
        AssertDrawnAcross(png, (255, 69, 0), upperPanel: true);      // the evaluation points (OrangeRed)
        AssertDrawnAcross(png, (46, 139, 87), upperPanel: false);    // the learning rate (SeaGreen)
    }

    private static void AssertDrawnAcross(DecodedPng png, (byte, byte, byte) colour, bool upperPanel)
    {
        var at = new List<(int X, int Y)>();
        for (var y = 0; y < png.Height; y++)
            for (var x = 0; x < png.Width; x++)
                if (png.Pixel(x, y) == colour)
                    at.Add((x, y));
        Assert.True(at.Count > 0, $"no pixel of {colour}");
        Assert.True(at.Max(p => p.X) - at.Min(p => p.X) > png.Width / 2, $"{colour} spans x {at.Min(p => p.X)}..{at.Max(p => p.X)} only");
        Assert.All(at, p => Assert.True(upperPanel ? p.Y < png.Height / 2 : p.Y >= png.Height / 2, $"{colour} at {p} is outside its panel"));
    }

    [Fact]
    public void Unreadable_trainer_state_names_the_file_and_the_place()
    {
        using var folder = new TempFolder();
        var path = folder.File("trainer_state.json");
        File.WriteAllText(path, "{\n  \"global_step\": 3,\n  \"log_history\": [ {\"loss\": 1.0, \"step\": 1}, oops ]\n}\n");
        var error = Assert.Throws<QwenTuneException>(() => LossPlot.LatestState(folder.Path));
        Assert.Contains(path, error.Message);
        Assert.Contains("LineNumber: 2", error.Message);

        File.WriteAllText(path, """{"global_step": 3, "log_history": [{"loss": 1.0, "step": 1}, {"loss": "high", "step": 2}]}""");
        var (state, source) = LossPlot.LatestState(folder.Path);
        error = Assert.Throws<QwenTuneException>(() => LossSeries.From(state, source));
        Assert.Contains($"{path}: log_history[1].loss is \"high\", not a finite number", error.Message);

        File.WriteAllText(path, """{"global_step": 0, "log_history": []}""");
        (state, source) = LossPlot.LatestState(folder.Path);
        error = Assert.Throws<QwenTuneException>(() => LossSeries.From(state, source));
        Assert.Contains("no loss yet", error.Message);

        error = Assert.Throws<QwenTuneException>(() => LossPlot.LatestState(folder.File("absent")));
        Assert.Contains("no such folder", error.Message);
        File.Delete(path);
        error = Assert.Throws<QwenTuneException>(() => LossPlot.LatestState(folder.Path));
        Assert.Contains("has no trainer_state.json", error.Message);
    }

    /// <summary>A live run has only checkpoints' trainer_state.json; the newest one, by step and time, is drawn.</summary>
    [Fact]
    public void A_live_run_is_read_from_its_newest_checkpoint_and_a_finished_one_from_output_dir()
    {
        using var folder = new TempFolder();
        void Write(string dir, int step, DateTime time)
        {
            Directory.CreateDirectory(dir);
            var path = Path.Combine(dir, "trainer_state.json");
            File.WriteAllText(path, new TrainerState { GlobalStep = step, LogHistory = [new JsonObject { ["loss"] = 1.0, ["step"] = step }] }.ToJson());
            File.SetLastWriteTimeUtc(path, time);
        }
        var t0 = new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc);
        Write(folder.File("checkpoint-5"), 5, t0);
        Write(folder.File("checkpoint-10"), 10, t0.AddMinutes(1));
        var (state, source) = LossPlot.LatestState(folder.Path);
        Assert.Equal((10, Path.Combine(folder.File("checkpoint-10"), "trainer_state.json")), (state.GlobalStep, source));
        Write(folder.Path, 12, t0.AddMinutes(2));
        Assert.Equal(12, LossPlot.LatestState(folder.Path).State.GlobalStep);
        // A stale output_dir file from an earlier run loses to a newer checkpoint of this one.
        Write(folder.File("checkpoint-2"), 2, t0);
        Write(folder.File("checkpoint-20"), 20, t0.AddMinutes(3));
        Assert.Equal(20, LossPlot.LatestState(folder.Path).State.GlobalStep);
    }
}
