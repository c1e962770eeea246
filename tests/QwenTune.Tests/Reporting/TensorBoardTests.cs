using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using QwenTune.Reporting;
using QwenTune.Tests.Training;
using QwenTune.Training;

namespace QwenTune.Tests.Reporting;

/// <summary>Event files read back with <see cref="EventFileReader"/>, which shares no code with the writer.</summary>
public sealed class TensorBoardTests
{
    [Fact]
    public void Crc32c_gives_the_standard_check_value_and_matches_a_bitwise_crc()
    {
        Assert.Equal(0xE3069283u, TfRecordWriter.Crc32C("123456789"u8));
        var random = new Random(5);
        foreach (var length in new[] { 0, 1, 7, 8, 9, 15, 16, 17, 100, 1031 })
        {
            var data = new byte[length];
            random.NextBytes(data);
            Assert.Equal(EventFileReader.Crc32C(data), TfRecordWriter.Crc32C(data));
            Assert.Equal(EventFileReader.MaskedCrc(data), TfRecordWriter.MaskedCrc32C(data));
        }
    }

    /// <summary>
    /// A run with evaluation: the file starts with brain.Event:2, holds the arguments and model config as text, and one
    /// scalar per number of each log_history row, tagged as HF's rewrite_logs tags it, at the row's step, in order.
    /// </summary>
    [Fact]
    public void Event_file_holds_every_number_of_trainer_state_log_history()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("tb");
        var logDir = fixture.Output("tb-logs");
        var started = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, output), "--max_steps", "4", "--per_device_train_batch_size", "2",
            "--eval_data_path", fixture.DataPath, "--eval_strategy", "steps", "--eval_steps", "2",
            "--report_to", "tensorboard", "--logging_dir", logDir, "--run_name", "tb-test"]);
        var file = Assert.Single(Directory.GetFiles(logDir));
        Assert.Matches($@"^events\.out\.tfevents\.\d{{10}}\.{Regex.Escape(Environment.MachineName)}\.{Environment.ProcessId}\.\d+$", Path.GetFileName(file));
        var events = EventFileReader.Read(file);

        Assert.Equal("brain.Event:2", events[0].FileVersion);
        Assert.Empty(events[0].Values);
        Assert.All(events, e => Assert.InRange(e.WallTime, started - 1, started + 600));
        Assert.True(events.Zip(events.Skip(1)).All(p => p.First.WallTime <= p.Second.WallTime), "wall times must not go back");

        var texts = events.SelectMany(e => e.Values).Where(v => v.SimpleValue is null).ToList();
        var args = texts.Single(v => v.Tag == "args/text_summary");
        Assert.Equal(("text", 7), (args.PluginName, args.TensorDtype));   // DT_STRING
        Assert.Equal([1L], args.Shape);
        var argsJson = JsonNode.Parse(Assert.Single(args.Strings))!;
        Assert.Equal("tb-test", (string?)argsJson["run_name"]);
        Assert.Equal(4, (int)argsJson["max_steps"]!);
        var config = JsonNode.Parse(Assert.Single(texts.Single(v => v.Tag == "model_config/text_summary").Strings))!;
        Assert.Equal(16, (int)config["hidden_size"]!);

        var state = TrainerState.FromFile(Path.Combine(output, "trainer_state.json"));
        var expected = state.LogHistory.SelectMany(row => row
                .Where(field => field.Key != "step" && field.Value is not null)
                .Select(field => ((long)row["step"]!, ExpectedTag(field.Key), (float)double.Parse(field.Value!.ToJsonString(), System.Globalization.CultureInfo.InvariantCulture))))
            .ToList();
        var written = events.SelectMany(e => e.Values.Where(v => v.SimpleValue is not null).Select(v => (e.Step, v.Tag, v.SimpleValue!.Value))).ToList();
        Assert.Equal(expected, written);
        foreach (var tag in new[] { "train/loss", "train/learning_rate", "train/grad_norm", "train/epoch", "eval/loss" })
            Assert.Contains(written, w => w.Tag == tag);
        Assert.Equal([2L, 4L], written.Where(w => w.Tag == "eval/loss").Select(w => w.Step));
    }

    /// <summary>HF's rewrite_logs, written out here on its own: eval_x is eval/x, test_x is test/x, the rest train/x.</summary>
    private static string ExpectedTag(string key) =>
        key.StartsWith("eval_") ? "eval/" + key["eval_".Length..] : key.StartsWith("test_") ? "test/" + key["test_".Length..] : "train/" + key;

    [Fact]
    public void Each_log_row_is_on_disk_before_the_next_step()
    {
        using var folder = new TempFolder();
        using var callback = new TensorBoardCallback(folder.Path, new JsonObject { ["output_dir"] = "x" }, modelConfigJson: null);
        callback.OnTrainBegin(new TrainingPlan(4, 1, 1, 4, 4), 0);
        callback.OnLog(new JsonObject { ["loss"] = 2.5, ["grad_norm"] = null, ["learning_rate"] = 3e-5, ["note"] = "warm", ["step"] = 3 });
        // The writer is still open: what is read is what the flush put on disk.
        var events = EventFileReader.Read(callback.EventFile!);
        var last = events[^1];
        Assert.Equal(3, last.Step);
        var values = events.Where(e => e.Step == 3).SelectMany(e => e.Values).ToList();
        Assert.Equal(2.5f, values.Single(v => v.Tag == "train/loss").SimpleValue);
        Assert.Equal(3e-5f, values.Single(v => v.Tag == "train/learning_rate").SimpleValue);
        Assert.DoesNotContain(values, v => v.Tag.StartsWith("train/grad_norm"));
        Assert.Equal(["warm"], values.Single(v => v.Tag == "train/note/text_summary").Strings);
    }

    [Fact]
    public void Default_logging_dir_is_hf_runs_folder_named_by_time_and_host()
    {
        Assert.Equal(Path.Combine("out", "runs", "Nov03_14-09-28_box"),
            TensorBoardCallback.DefaultLoggingDir("out", new DateTime(2026, 11, 3, 14, 9, 28), "box"));

        using var fixture = new TrainingFixture();
        var output = fixture.Output("all");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, output), "--max_steps", "1", "--report_to", "all"]);
        var run = Assert.Single(Directory.GetDirectories(Path.Combine(output, "runs")));
        Assert.Matches($@"^[A-Z][a-z][a-z]\d\d_\d\d-\d\d-\d\d_{Regex.Escape(Environment.MachineName)}$", Path.GetFileName(run));
        Assert.Contains(EventFileReader.Read(Assert.Single(Directory.GetFiles(run))).SelectMany(e => e.Values), v => v.Tag == "train/loss");
    }

    [Theory]
    [InlineData("wandb", "wandb sync --sync-tensorboard")]
    [InlineData("mlflow", "tracking server")]
    [InlineData("tensorboardx", "unknown integration")]
    public void Other_integrations_are_refused_with_the_reason(string target, string reason)
    {
        using var fixture = new TrainingFixture(samples: 2);
        var error = Assert.Throws<QwenTuneException>(() =>
            TrainingRuns.Train([.. TrainingRuns.Common(fixture, fixture.Output("o")), "--max_steps", "1", "--report_to", "tensorboard", target]));
        Assert.Contains($"--report_to {target}", error.Message);
        Assert.Contains(reason, error.Message);
        Assert.False(Directory.Exists(Path.Combine(fixture.Output("o"), "runs")));
    }

    [Fact]
    public void Unwritable_logging_dir_is_a_clear_error()
    {
        using var folder = new TempFolder();
        var blocker = Path.Combine(folder.Path, "file");
        File.WriteAllText(blocker, "");
        var error = Assert.Throws<QwenTuneException>(() => new TensorBoardEventWriter(Path.Combine(blocker, "logs")));
        Assert.Contains("--logging_dir", error.Message);
        Assert.Contains(blocker, error.Message);
    }
}
