using QwenTune.Tests.Reporting;
using QwenTune.Tests.Training;
using QwenTune.Training;

namespace QwenTune.Tests.Distributed;

/// <summary>Two ranks under ZeRO-3: rank 0 alone reports, and the best checkpoint's weights are gathered into the final model.</summary>
[Collection("mpirun")]
public sealed class WatchedRanksTests
{
    [Fact]
    public void Under_zero3_one_event_file_is_written_and_the_best_checkpoint_is_the_final_model()
    {
        using var fixture = new TrainingFixture(samples: 8);
        var config = fixture.Output("ds_zero3.json");
        File.WriteAllText(config, """{"zero_optimization": {"stage": 3, "reduce_bucket_size": 3000, "stage3_param_persistence_threshold": 100}}""");
        var output = fixture.Output("run");
        var logs = fixture.Output("logs");
        var result = MpiRun.Cli(2, DataParallelRuns.Deadline, ["train", .. TrainingRuns.Common(fixture, output), "--max_steps", "4",
            "--per_device_train_batch_size", "2", "--deepspeed", config, "--eval_data_path", fixture.DataPath,
            "--eval_strategy", "steps", "--eval_steps", "2", "--save_strategy", "steps", "--save_steps", "2", "--save_only_model", "True",
            "--load_best_model_at_end", "True", "--greater_is_better", "True", "--report_to", "tensorboard", "--logging_dir", logs]);
        Assert.True(result.ExitCode == 0, $"mpirun exited {result.ExitCode}:\n{result.Stdout}\n{result.Stderr}");

        var state = TrainerState.FromFile(Path.Combine(output, "trainer_state.json"));
        var file = Assert.Single(Directory.GetFiles(logs));
        var losses = EventFileReader.Read(file).SelectMany(e => e.Values.Where(v => v.Tag == "train/loss").Select(v => (e.Step, v.SimpleValue))).ToList();
        Assert.Equal(state.LogHistory.Where(r => r["loss"] is not null).Select(r => ((long)r["step"]!, (float?)(double)r["loss"]!)), losses);

        // greater_is_better on a falling eval loss makes the first evaluation (step 2) the best.
        var evalLosses = state.LogHistory.Where(r => r["eval_loss"] is not null).Select(r => (double)r["eval_loss"]!).ToList();
        Assert.True(evalLosses[0] > evalLosses[1], "the eval loss must fall for this test to mean anything");
        Assert.Equal(Path.Combine(output, "checkpoint-2"), state.BestModelCheckpoint);
        var best = TrainingRuns.Weights(Path.Combine(output, "checkpoint-2"));
        var last = TrainingRuns.Weights(Path.Combine(output, "checkpoint-4"));
        var final = TrainingRuns.Weights(output);
        Assert.All(best, kv => Assert.True(kv.Value.eq(final[kv.Key]).all().item<bool>(), kv.Key));
        Assert.Contains(last, kv => !kv.Value.eq(final[kv.Key]).all().item<bool>());
        Assert.False(File.Exists(Path.Combine(output, "checkpoint-4", "optimizer.safetensors")));
        Assert.True(File.Exists(Path.Combine(output, "training_loss.png")));
    }
}
