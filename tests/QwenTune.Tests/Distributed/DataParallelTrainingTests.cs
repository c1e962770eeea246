using System.Diagnostics;
using System.Text.Json;
using QwenTune.Tests.Training;
using static TorchSharp.torch;

namespace QwenTune.Tests.Distributed;

/// <summary>
/// Real mpirun ranks against a one-process run of the same global batch: the loss is token-weighted over ranks and
/// accumulation, so W ranks x batch b must make the updates of 1 rank x batch W*b, and every ZeRO stage those of
/// stage 0, up to float32 rounding of the reductions.
/// </summary>
[Collection("mpirun")]
public sealed class DataParallelTrainingTests(DataParallelRuns runs) : IClassFixture<DataParallelRuns>
{
    private const double Tolerance = 1e-5;

    [Fact]
    public void Two_ranks_of_batch_2_train_like_one_rank_of_batch_4()
    {
        AssertSameRun(runs.OneRank("one"), runs.Ranks(2, "two"), "model.safetensors");
    }

    [Fact]
    public void Two_ranks_of_batch_2_train_lora_like_one_rank_of_batch_4()
    {
        string[] lora = ["--use_lora", "True", "--lora_r", "4", "--lora_dropout", "0"];
        AssertSameRun(runs.OneRank("one-lora", lora), runs.Ranks(2, "two-lora", lora), "adapter_model.safetensors");
    }

    [Theory]
    [InlineData(1, false, false)]
    [InlineData(2, false, false)]
    [InlineData(2, true, false)]
    [InlineData(2, true, true)]    // overlap_comm: non-blocking reductions during backward
    [InlineData(3, false, false)]
    [InlineData(3, true, false)]
    public void Zero_stage_follows_the_stage_0_trajectory(int stage, bool gradientCheckpointing, bool overlapComm)
    {
        var name = $"zero{stage}{(gradientCheckpointing ? "-gc" : "")}{(overlapComm ? "-overlap" : "")}";
        var config = runs.Config(stage, overlapComm);
        var run = runs.Ranks(2, name, "--deepspeed", config, "--gradient_checkpointing", gradientCheckpointing.ToString());
        AssertSameRun(runs.Ranks(2, "two"), run, "model.safetensors");
        Assert.Contains(Path.GetFileName(config), File.ReadAllText(Path.Combine(run, "training_args.json")));
    }

    [Fact]
    public void Zero3_lora_adapter_trains_like_stage_0()
    {
        string[] lora = ["--use_lora", "True", "--lora_r", "4", "--lora_dropout", "0"];
        AssertSameRun(runs.Ranks(2, "two-lora", lora), runs.Ranks(2, "zero3-lora", [.. lora, "--deepspeed", runs.Config(3)]), "adapter_model.safetensors");
    }

    /// <summary>
    /// What a ZeRO-3 run writes is whole: loaded in one process, the final model (and the LoRA run's adapter on the
    /// base) scores the eval_loss that the sharded model scored in memory at the last step.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Zero3_outputs_load_in_one_process_and_score_the_in_memory_eval_loss(bool lora)
    {
        var output = lora
            ? runs.Ranks(2, "zero3-lora", "--use_lora", "True", "--lora_r", "4", "--lora_dropout", "0", "--deepspeed", runs.Config(3))
            : runs.Ranks(2, "zero3", "--deepspeed", runs.Config(3), "--gradient_checkpointing", "False");
        var inMemory = EvalLosses(output)[^1];
        string[] model = lora
            ? ["--model_name_or_path", runs.Fixture.ModelDir, "--adapter_name_or_path", output]
            : ["--model_name_or_path", output];
        var (code, stdout, stderr) = CliProcess.Run(["eval", .. model, "--data_path", runs.Fixture.DataPath, "--device", "cpu"], null, null);
        Assert.True(code == 0, stderr);
        var reloaded = JsonDocument.Parse(stdout).RootElement.GetProperty("eval_loss").GetDouble();
        Assert.Equal(inMemory, reloaded, Tolerance * inMemory);
        if (lora)
        {
            var adapter = TrainingRuns.Weights(output, "adapter_model.safetensors");
            Assert.NotEmpty(adapter);
            Assert.All(adapter.Values, t => Assert.True(t.numel() > 0));
            Assert.Contains(adapter, kv => kv.Key.Contains("lora_B", StringComparison.Ordinal) && kv.Value.abs().max().item<float>() > 0);
        }
    }

    /// <summary>A checkpoint is one consolidated folder: a run cut at step 2 resumes on another number of ranks on the same trajectory.</summary>
    [Theory]
    [InlineData(2, 1)]
    [InlineData(1, 2)]
    public void Run_saved_on_one_rank_count_resumes_on_another(int savedOn, int resumedOn)
    {
        var uninterrupted = savedOn == 1 ? runs.OneRank("one") : runs.Ranks(2, "two");
        var resumed = runs.Fixture.Output($"resumed-{savedOn}-to-{resumedOn}");
        Directory.CreateDirectory(resumed);
        CopyFolder(Path.Combine(uninterrupted, "checkpoint-2"), Path.Combine(resumed, "checkpoint-2"));
        if (resumedOn == 1)
        {
            TrainingRuns.Train(runs.Arguments(resumed, 4));
        }
        else
        {
            var result = MpiRun.Cli(resumedOn, DataParallelRuns.Deadline, ["train", .. runs.Arguments(resumed, 4 / resumedOn)]);
            Assert.True(result.ExitCode == 0, result.Stdout + result.Stderr);
            Assert.Contains("Resumed from", result.Stderr + result.Stdout);
        }
        AssertSameRun(uninterrupted, resumed, "model.safetensors");
    }

    [Fact]
    public async Task A_killed_rank_ends_the_job_with_a_nonzero_exit_naming_it()
    {
        var output = runs.Fixture.Output("killed");
        using var mpirun = MpiRun.Start(2, ["train", .. runs.Arguments(output, 2, "--max_steps", "100000", "--save_steps", "1")]);
        var stdout = mpirun.StandardOutput.ReadToEndAsync();
        var stderr = mpirun.StandardError.ReadToEndAsync();
        var rank1 = WaitForRank(mpirun, rank: 1, output);
        var clock = Stopwatch.StartNew();
        rank1.Kill();
        var ended = mpirun.WaitForExit(TimeSpan.FromSeconds(60));
        if (!ended)
            mpirun.Kill(entireProcessTree: true);
        Assert.True(ended, "mpirun did not end within 60 s of rank 1 being killed");
        Assert.NotEqual(0, mpirun.ExitCode);
        var said = await stdout + await stderr;
        Assert.Matches(@"rank 1 .*(signal 9|Killed)", said);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60));
        // Whatever checkpoint is newest is complete: the folders are renamed into place only when written.
        var newest = Directory.GetDirectories(output, "checkpoint-*").OrderBy(d => int.Parse(Path.GetFileName(d)["checkpoint-".Length..])).LastOrDefault();
        if (newest is not null)
            Assert.True(File.Exists(Path.Combine(newest, "trainer_state.json")) && File.Exists(Path.Combine(newest, "optimizer.safetensors")));
    }

    /// <summary>
    /// Rank 0 alone fails (it cannot commit checkpoint-1: a file is in the way) while rank 1 goes on into the next step's
    /// collectives: the job must still end, non-zero, with rank 0's message, not hang in MPI_Finalize.
    /// </summary>
    [Fact]
    public void A_rank_that_fails_ends_the_job_with_its_message()
    {
        var output = runs.Fixture.Output("failing");
        Directory.CreateDirectory(output);
        File.WriteAllText(Path.Combine(output, "checkpoint-1"), "in the way");
        var clock = Stopwatch.StartNew();
        var result = MpiRun.Cli(2, TimeSpan.FromSeconds(90), ["train", .. runs.Arguments(output, 2, "--save_steps", "1")]);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Contains("[rank 0/2] qwentune train: error: could not write checkpoint-1", result.Stderr + result.Stdout);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), $"took {clock.Elapsed}");
    }

    /// <summary>Qwen's workflow verbatim: GPUS_PER_NODE=2 bash finetune.sh ... --deepspeed configs/ds_config_zero3.json.</summary>
    [Fact]
    public void Finetune_sh_with_two_ranks_per_node_trains_under_zero3()
    {
        var output = runs.Fixture.Output("finetune-zero3");
        var (code, stdout, stderr) = FinetuneScript.Run(
            ["-m", runs.Fixture.ModelDir, "-d", runs.Fixture.DataPath, "--deepspeed", Path.Combine(Fixtures.RepositoryRoot, "configs", "ds_config_zero3.json"),
             "--output_dir", output, "--max_steps", "2", "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "1"],
            new Dictionary<string, string> { ["GPUS_PER_NODE"] = "2" }, TimeSpan.FromMinutes(4));
        var said = stdout + stderr;
        Assert.True(code == 0, said);
        Assert.Contains("Data parallel over 2 ranks, ZeRO stage 3", said);
        Assert.Equal(2, TrainingRuns.LoggedLosses(output).Count);
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors")));
        Assert.Empty(Directory.GetDirectories(output, "checkpoint-*"));   // Qwen's save_steps 10 is past max_steps 2: only the final model
    }

    private static Process WaitForRank(Process mpirun, int rank, string output)
    {
        var deadline = Stopwatch.StartNew();
        // Once a checkpoint exists every rank is past its start-up and inside the training loop.
        while (deadline.Elapsed < TimeSpan.FromMinutes(2) && !mpirun.HasExited)
        {
            if (Directory.Exists(output) && Directory.GetDirectories(output, "checkpoint-*").Length > 0)
            {
                foreach (var process in Process.GetProcessesByName("dotnet"))
                {
                    var environment = $"/proc/{process.Id}/environ";
                    try
                    {
                        if (File.ReadAllText(environment).Contains($"OMPI_COMM_WORLD_RANK={rank}\0", StringComparison.Ordinal)
                            && File.ReadAllText($"/proc/{process.Id}/cmdline").Contains(output, StringComparison.Ordinal))
                            return process;
                    }
                    catch (IOException)
                    {
                        // the process ended while being looked at
                    }
                }
            }
            Thread.Sleep(200);
        }
        mpirun.Kill(entireProcessTree: true);
        throw new InvalidOperationException($"rank {rank} of the job writing {output} was not found running");
    }

    private static void AssertSameRun(string expected, string actual, string weightsFile)
    {
        var expectedRows = TrainingRuns.LoggedRows(expected);
        var actualRows = TrainingRuns.LoggedRows(actual);
        Assert.Equal(4, expectedRows.Count);
        Assert.Equal(expectedRows.Select(r => r.Step), actualRows.Select(r => r.Step));
        for (var i = 0; i < expectedRows.Count; i++)
        {
            Assert.Equal(expectedRows[i].Loss, actualRows[i].Loss, Tolerance * expectedRows[i].Loss);
            Assert.Equal(expectedRows[i].GradNorm, actualRows[i].GradNorm, 1e-4 * expectedRows[i].GradNorm);
        }
        var expectedEval = EvalLosses(expected);
        var actualEval = EvalLosses(actual);
        Assert.Equal(2, expectedEval.Count);
        for (var i = 0; i < expectedEval.Count; i++)
            Assert.Equal(expectedEval[i], actualEval[i], Tolerance * expectedEval[i]);
        var expectedWeights = TrainingRuns.Weights(expected, weightsFile);
        var actualWeights = TrainingRuns.Weights(actual, weightsFile);
        Assert.Equal(expectedWeights.Keys.Order(), actualWeights.Keys.Order());
        // The weights as a whole agree to 1e-5 of their norm. Single tensors get 1e-4: Adam divides by sqrt(v), so a
        // gradient at rounding level still moves its weight by about the learning rate, and k_proj's bias has exactly
        // zero gradient in exact arithmetic (the softmax does not change when one constant is added to every key's
        // score), so its updates are rounding noise amplified, different for every reduction order.
        double differenceSquared = 0, normSquared = 0;
        foreach (var (name, tensor) in expectedWeights)
        {
            var difference = (tensor - actualWeights[name]).norm().item<float>();
            var norm = tensor.norm().item<float>();
            differenceSquared += (double)difference * difference;
            normSquared += (double)norm * norm;
            Assert.True(difference <= 1e-4 * Math.Max(norm, 1e-12f), $"{name} differs by {difference / norm:E2} of its norm");
        }
        var whole = Math.Sqrt(differenceSquared / normSquared);
        Assert.True(whole <= Tolerance, $"the weights differ by {whole:E2} of their norm");
    }

    private static List<double> EvalLosses(string folder) =>
        QwenTune.Training.TrainerState.FromFile(Path.Combine(folder, "trainer_state.json")).LogHistory
            .Where(e => e["eval_loss"] is not null).Select(e => (double)e["eval_loss"]!).ToList();

    private static void CopyFolder(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (var file in Directory.GetFiles(from))
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
    }
}
