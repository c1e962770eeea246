using QwenTune.Checkpoints;
using static TorchSharp.torch;

namespace QwenTune.Tests.Training;

public sealed class TrainingSessionTests
{
    [Fact]
    public void Batch_of_four_equals_four_accumulated_batches_of_one()
    {
        using var fixture = new TrainingFixture();
        TrainingRuns.Train(TrainingRuns.Common(fixture, fixture.Output("b4"),
            "--max_steps", "2", "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "1"));
        TrainingRuns.Train(TrainingRuns.Common(fixture, fixture.Output("b1"),
            "--max_steps", "2", "--per_device_train_batch_size", "1", "--gradient_accumulation_steps", "4"));
        var wide = TrainingRuns.Weights(fixture.Output("b4"));
        var accumulated = TrainingRuns.Weights(fixture.Output("b1"));
        var initial = TrainingRuns.Weights(fixture.ModelDir);
        foreach (var (name, tensor) in wide)
        {
            var difference = (tensor - accumulated[name]).abs().max().item<float>();
            // Float error, amplified by Adam's normalisation, stays far below one update (learning rate 1e-2): 1% of it. The
            // head's vocabulary blocks are sized by the row count, so the two runs sum the input gradient over different
            // blocks (2.4e-5 apart at most here); a wrongly weighted micro-batch moves weights by a sizeable part of an update.
            Assert.True(tensor.allclose(accumulated[name], rtol: 1e-4, atol: 1e-4), $"{name} differs between batch 4 x 1 and 1 x 4 by {difference}");
            Assert.False(tensor.eq(initial[name]).all().item<bool>(), $"{name} did not train");
        }
        // Adam is invariant to a constant gradient scale, so compare what it would hide: loss and pre-clip gradient norm.
        var wideLog = TrainingRuns.LoggedRows(fixture.Output("b4"));
        var accumulatedLog = TrainingRuns.LoggedRows(fixture.Output("b1"));
        Assert.Equal(2, wideLog.Count);
        for (var i = 0; i < 2; i++)
        {
            Assert.Equal(wideLog[i].Loss, accumulatedLog[i].Loss, 1e-5 * wideLog[i].Loss);
            Assert.Equal(wideLog[i].GradNorm, accumulatedLog[i].GradNorm, 1e-4 * wideLog[i].GradNorm);
        }
    }

    [Fact]
    public void Lora_run_resumed_from_a_checkpoint_continues_the_same_trajectory()
    {
        using var fixture = new TrainingFixture();
        string[] lora = ["--use_lora", "True", "--lora_r", "4", "--lora_dropout", "0.1", "--max_steps", "4",
                         "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2", "--save_strategy", "steps", "--save_steps", "2"];
        var uninterrupted = fixture.Output("straight");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, uninterrupted), .. lora]);
        // The same run, cut after its step-2 checkpoint: only checkpoint-2 survives, so the rerun must resume from it.
        var resumed = fixture.Output("resumed");
        Directory.CreateDirectory(resumed);
        CopyFolder(Path.Combine(uninterrupted, "checkpoint-2"), Path.Combine(resumed, "checkpoint-2"));
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, resumed), .. lora]);

        Assert.Equal(TrainingRuns.LoggedLosses(uninterrupted), TrainingRuns.LoggedLosses(resumed));
        Assert.Equal(4, TrainingRuns.LoggedLosses(resumed).Count);
        var expected = TrainingRuns.Weights(uninterrupted, "adapter_model.safetensors");
        var actual = TrainingRuns.Weights(resumed, "adapter_model.safetensors");
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, tensor) in expected)
            Assert.True(tensor.eq(actual[name]).all().item<bool>(), $"{name} differs after resume");
    }

    [Fact]
    public void Qlora_loss_falls()
    {
        using var fixture = new TrainingFixture(samples: 4, initializerRange: 0.5);
        var output = fixture.Output("qlora");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, output), "--use_lora", "True", "--q_lora", "True", "--lora_r", "8",
            "--lora_alpha", "32", "--lora_dropout", "0", "--num_train_epochs", "12", "--per_device_train_batch_size", "4", "--learning_rate", "5e-2"]);
        var losses = TrainingRuns.LoggedLosses(output);
        Assert.Equal(12, losses.Count);
        Assert.True(losses[^1].Loss < losses[0].Loss - 1.0, $"Q-LoRA loss went from {losses[0].Loss} to {losses[^1].Loss}");
        Assert.True(File.Exists(Path.Combine(output, "adapter_model.safetensors")));
        Assert.False(File.Exists(Path.Combine(output, "model.safetensors")), "a Q-LoRA run writes the adapter, not the base");
    }

    [Fact]
    public void Output_dir_that_cannot_be_created_is_reported_before_training()
    {
        using var fixture = new TrainingFixture(samples: 2);
        var blocker = fixture.Output("a-file");
        File.WriteAllText(blocker, "not a folder");
        var error = Assert.Throws<QwenTuneException>(() =>
            TrainingRuns.Train(TrainingRuns.Common(fixture, Path.Combine(blocker, "out"), "--max_steps", "1")));
        Assert.Contains("is not writable", error.Message);
        Assert.Contains(blocker, error.Message);
    }

    [Fact]
    public void Evaluation_runs_on_schedule_and_old_checkpoints_are_pruned()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("eval");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, output), "--max_steps", "4", "--per_device_train_batch_size", "2",
            "--eval_data_path", fixture.DataPath, "--eval_strategy", "steps", "--eval_steps", "2",
            "--save_strategy", "steps", "--save_steps", "1", "--save_total_limit", "2"]);
        var state = QwenTune.Training.TrainerState.FromFile(Path.Combine(output, "trainer_state.json"));
        var evals = state.LogHistory.Where(e => e["eval_loss"] is not null).ToList();
        Assert.Equal([2, 4], evals.Select(e => (int)e["step"]!));
        Assert.True((double)evals[1]["eval_loss"]! < (double)evals[0]["eval_loss"]!, "training on the eval data must lower its loss");
        Assert.Equal(12, (int)evals[0]["eval_samples"]!);
        Assert.Equal((double)evals[1]["eval_loss"]!, state.BestMetric);
        // save_total_limit 2 keeps the two newest (the best, step 4, among them).
        Assert.Equal(["checkpoint-3", "checkpoint-4"], Directory.GetDirectories(output, "checkpoint-*").Select(Path.GetFileName).Order());
    }

    [Fact]
    public void Lora_weight_path_starts_from_an_existing_adapter()
    {
        using var fixture = new TrainingFixture();
        var first = fixture.Output("first");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, first), "--use_lora", "True", "--lora_r", "4", "--max_steps", "2"]);
        // A learning rate of zero leaves the loaded adapter as it was, so what is saved is what was loaded.
        var second = fixture.Output("second");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, second), "--use_lora", "True", "--lora_weight_path", first,
            "--max_steps", "1", "--learning_rate", "0"]);
        var loaded = TrainingRuns.Weights(first, "adapter_model.safetensors");
        var saved = TrainingRuns.Weights(second, "adapter_model.safetensors");
        Assert.Equal(loaded.Keys.Order(), saved.Keys.Order());
        Assert.Contains(loaded.Values, t => t.abs().sum().item<float>() > 0 && t.shape[1] == 4);   // a trained B
        foreach (var (name, tensor) in loaded)
            Assert.True(tensor.eq(saved[name]).all().item<bool>(), name);
    }

    internal static void CopyFolder(string source, string destination)
    {
        Directory.CreateDirectory(destination);
        foreach (var file in Directory.GetFiles(source))
            File.Copy(file, Path.Combine(destination, Path.GetFileName(file)));
    }

    /// <summary>
    /// HF sets best_model_checkpoint only when a checkpoint is saved for the best evaluation's step. Here evaluation runs
    /// every step and saving every second step, and the loss falls, so the best evaluation (step 3) has no checkpoint:
    /// best_model_checkpoint must name checkpoint-2, which exists, not checkpoint-3, which was never written.
    /// </summary>
    [Fact]
    public void Best_model_checkpoint_names_only_a_checkpoint_that_was_saved()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("o");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, output, "--max_steps", "3", "--per_device_train_batch_size", "4",
            "--save_strategy", "steps", "--save_steps", "2", "--eval_strategy", "steps", "--eval_steps", "1"),
            "--eval_data_path", fixture.DataPath]);
        var state = QwenTune.Training.TrainerState.FromFile(Path.Combine(output, "trainer_state.json"));
        var evalLosses = state.LogHistory.Where(e => e["eval_loss"] is not null).Select(e => (double)e["eval_loss"]!).ToList();
        Assert.Equal(3, evalLosses.Count);
        Assert.True(evalLosses[2] < evalLosses[1] && evalLosses[1] < evalLosses[0], "the eval loss must fall for this test to mean anything");
        Assert.Equal(3, state.BestGlobalStep);
        Assert.Equal(evalLosses[2], state.BestMetric);
        Assert.Equal(Path.Combine(output, "checkpoint-2"), state.BestModelCheckpoint);
        Assert.True(Directory.Exists(state.BestModelCheckpoint));
        var atCheckpoint = QwenTune.Training.TrainerState.FromFile(Path.Combine(output, "checkpoint-2", "trainer_state.json"));
        Assert.Equal(Path.Combine(output, "checkpoint-2"), atCheckpoint.BestModelCheckpoint);
    }

    /// <summary>
    /// total_flos is HF's estimate 6 x (parameters outside the embedding) x tokens. The fixture's model, counted from its
    /// config by hand: 2 layers x (q 16x16+16, k 16x8+8, v 16x8+8, o 16x16, gate/up/down 3 x 16x32, two norms 2 x 16)
    /// plus the final norm 16; the tied lm_head is the embedding.
    /// </summary>
    [Fact]
    public void Total_flos_is_six_times_non_embedding_parameters_times_tokens()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("o");
        TrainingRuns.Train(TrainingRuns.Common(fixture, output, "--max_steps", "2", "--per_device_train_batch_size", "3"));
        var state = QwenTune.Training.TrainerState.FromFile(Path.Combine(output, "trainer_state.json"));
        const long perLayer = (16 * 16 + 16) + (16 * 8 + 8) + (16 * 8 + 8) + 16 * 16 + 3 * 16 * 32 + 2 * 16;
        const long nonEmbedding = 2 * perLayer + 16;
        Assert.True(state.NumInputTokensSeen > 0);
        Assert.Equal(6.0 * nonEmbedding * state.NumInputTokensSeen, state.TotalFlos);
    }

    [Fact]
    public void Lora_weight_path_refuses_explicit_flags_that_disagree_with_the_adapter()
    {
        using var fixture = new TrainingFixture();
        var adapter = fixture.Output("adapter");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, adapter, "--max_steps", "1"), "--use_lora", "True", "--lora_r", "4", "--lora_alpha", "8"]);
        string[] resume = [.. TrainingRuns.Common(fixture, fixture.Output("next"), "--max_steps", "1"), "--use_lora", "True", "--lora_weight_path", adapter];
        var error = Assert.Throws<QwenTuneException>(() => TrainingRuns.Train([.. resume, "--lora_r", "8", "--lora_alpha", "8", "--lora_bias", "all"]));
        Assert.Contains("--lora_r 8, but the adapter has 4", error.Message);
        Assert.Contains("--lora_bias all, but the adapter has none", error.Message);
        Assert.DoesNotContain("lora_alpha", error.Message);   // 8 agrees
        // Flags left at their defaults (r 64) take the adapter's values without complaint.
        TrainingRuns.Train(resume);
        Assert.True(File.Exists(Path.Combine(fixture.Output("next"), "adapter_model.safetensors")));
    }
}
