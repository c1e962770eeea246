using System.Text.Json.Nodes;
using QwenTune.Configuration;
using QwenTune.Data;
using QwenTune.Runtime;
using QwenTune.Tests.Text;
using QwenTune.Text;
using QwenTune.Training;
using static TorchSharp.torch;

namespace QwenTune.Tests.Training;

/// <summary>The HF TrainingArguments users pass, each checked by what it changes in a run.</summary>
public sealed class HfTrainingFlagsTests
{
    [Fact]
    public void Logging_first_step_adds_a_row_for_step_1_with_that_steps_loss()
    {
        using var fixture = new TrainingFixture();
        string[] run = ["--max_steps", "3", "--per_device_train_batch_size", "4"];
        var everyStep = fixture.Output("every");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, everyStep), .. run]);
        var plain = fixture.Output("plain");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, plain), .. run, "--logging_steps", "2"]);
        var first = fixture.Output("first");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, first), .. run, "--logging_steps", "2", "--logging_first_step"]);

        Assert.Equal([2, 3], TrainingRuns.LoggedLosses(plain).Select(r => r.Step));
        var rows = TrainingRuns.LoggedLosses(first);
        Assert.Equal([1, 2, 3], rows.Select(r => r.Step));
        var losses = TrainingRuns.LoggedLosses(everyStep);
        // The window restarts after the first row, so step 2's row is step 2's loss alone (HF resets its running loss at each log).
        Assert.Equal(losses[0].Loss, rows[0].Loss, 1e-6);
        Assert.Equal(losses[1].Loss, rows[1].Loss, 1e-6);
    }

    [Fact]
    public void Save_only_model_checkpoints_hold_the_same_model_and_no_resume_state()
    {
        using var fixture = new TrainingFixture();
        string[] run = ["--max_steps", "2", "--save_strategy", "steps", "--save_steps", "1"];
        var full = fixture.Output("full");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, full), .. run]);
        var only = fixture.Output("only");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, only), .. run, "--save_only_model", "True"]);

        foreach (var step in new[] { 1, 2 })
        {
            var checkpoint = Path.Combine(only, $"checkpoint-{step}");
            var files = Directory.GetFiles(checkpoint).Select(Path.GetFileName).ToHashSet();
            Assert.Contains("model.safetensors", files);
            Assert.Contains("trainer_state.json", files);
            Assert.DoesNotContain("optimizer.safetensors", files);
            Assert.DoesNotContain("rng_state.safetensors", files);
            Assert.DoesNotContain("scheduler.json", files);
            Assert.Contains("optimizer.safetensors", Directory.GetFiles(Path.Combine(full, $"checkpoint-{step}")).Select(Path.GetFileName));
            AssertSameWeights(Path.Combine(full, $"checkpoint-{step}"), checkpoint);
        }
        // Running on in the same output_dir would resume from checkpoint-2, which cannot be.
        var error = Assert.Throws<QwenTuneException>(() => TrainingRuns.Train([.. TrainingRuns.Common(fixture, only), "--max_steps", "4"]));
        Assert.Contains("--save_only_model", error.Message);
        Assert.Contains("--overwrite_output_dir", error.Message);
    }

    /// <summary>
    /// The eval loss falls on this run (it trains on its eval data), so with greater_is_better the best evaluation is the
    /// first one: the final model must then be checkpoint-1's weights, not the last step's. save_total_limit 1 keeps that
    /// best checkpoint and, as HF does, the newest as well.
    /// </summary>
    [Fact]
    public void Load_best_model_at_end_writes_the_best_checkpoints_weights_as_the_final_model()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("best");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, output), "--max_steps", "3", "--per_device_train_batch_size", "4",
            "--eval_data_path", fixture.DataPath, "--eval_strategy", "steps", "--eval_steps", "1", "--save_strategy", "steps", "--save_steps", "1",
            "--load_best_model_at_end", "True", "--metric_for_best_model", "loss", "--greater_is_better", "True", "--save_total_limit", "1"]);
        var state = TrainerState.FromFile(Path.Combine(output, "trainer_state.json"));
        var evalLosses = state.LogHistory.Where(e => e["eval_loss"] is not null).Select(e => (double)e["eval_loss"]!).ToList();
        Assert.True(evalLosses[0] > evalLosses[1] && evalLosses[1] > evalLosses[2], "the eval loss must fall for this test to mean anything");
        Assert.Equal((1, evalLosses[0]), (state.BestGlobalStep, state.BestMetric));
        Assert.Equal(Path.Combine(output, "checkpoint-1"), state.BestModelCheckpoint);
        Assert.Equal(["checkpoint-1", "checkpoint-3"], Directory.GetDirectories(output, "checkpoint-*").Select(Path.GetFileName).Order());
        AssertSameWeights(Path.Combine(output, "checkpoint-1"), output);
        var last = TrainingRuns.Weights(Path.Combine(output, "checkpoint-3"));
        var final = TrainingRuns.Weights(output);
        Assert.Contains(final, kv => !kv.Value.eq(last[kv.Key]).all().item<bool>());
    }

    [Fact]
    public void Dataloader_num_workers_tokenizes_on_threads_into_the_same_examples_in_order()
    {
        var tokenizer = LoadedTokenizers.Get("qwen2.5");
        var featurizer = new SftFeaturizer(tokenizer, ChatTemplate.For(tokenizer, "qwen2.5"), 64, trainOnPrompt: false);
        var samples = Enumerable.Range(0, 40).Select(i => Sample(i, $"Question {i}?", $"Answer {i}" + new string('!', i % 7), assistant: true)).ToList();
        var sequential = new EagerSftDataset(samples, featurizer);
        var threaded = new EagerSftDataset(samples, featurizer, workers: 4);
        Assert.Equal(sequential.Count, threaded.Count);
        for (var i = 0; i < sequential.Count; i++)
        {
            Assert.Equal(sequential.Examples[i].InputIds, threaded.Examples[i].InputIds);
            Assert.Equal(sequential.Examples[i].Labels, threaded.Examples[i].Labels);
        }
        // Two bad samples (no assistant turn): the first in the file is the one reported, however the threads ran.
        samples[17] = Sample(17, "only a question", null, assistant: false);
        samples[31] = Sample(31, "another", null, assistant: false);
        var error = Assert.Throws<QwenTuneException>(() => new EagerSftDataset(samples, featurizer, workers: 4));
        Assert.StartsWith("data.jsonl:18:", error.Message);
    }

    private static ChatSample Sample(int index, string question, string? answer, bool assistant)
    {
        var messages = new List<JsonObject> { new() { ["role"] = "user", ["content"] = question } };
        if (assistant)
            messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = answer });
        return new ChatSample(messages, null, null, null, new SampleLocation("data.jsonl", index + 1));
    }

    [Fact]
    public void Tf32_is_a_no_op_on_cpu_and_local_rank_is_ignored_each_saying_so()
    {
        var cpu = new ComputeEnvironment(CPU, ScalarType.Float32);
        Assert.Null(Tf32Setting.Apply(null, cpu));
        Assert.Contains("a no-op on CPU", Tf32Setting.Apply(true, cpu));

        using var fixture = new TrainingFixture(samples: 2);
        var log = new StringWriter();
        TrainingSession.Run(TrainingRequest.Parse([.. TrainingRuns.Common(fixture, fixture.Output("o")), "--max_steps", "1", "--tf32", "True", "--local_rank", "3"]), [], log);
        Assert.Contains("--tf32 True: a no-op on CPU", log.ToString());
        Assert.Contains("--local_rank 3 is ignored", log.ToString());
        Assert.Contains("rank 0 of 1 here", log.ToString());
    }

    private static void AssertSameWeights(string expectedFolder, string actualFolder)
    {
        var expected = TrainingRuns.Weights(expectedFolder);
        var actual = TrainingRuns.Weights(actualFolder);
        Assert.Equal(expected.Keys.Order(), actual.Keys.Order());
        foreach (var (name, tensor) in expected)
            Assert.True(tensor.eq(actual[name]).all().item<bool>(), $"{name} differs between {expectedFolder} and {actualFolder}");
    }
}
