using System.Security.Cryptography;
using QwenTune.Tests.Training;
using QwenTune.Training;

namespace QwenTune.Tests.Cli;

/// <summary>
/// SIGTERM and SIGINT sent to real training processes: the step under way finishes, a checkpoint is written, the process
/// says where and exits 143 / 130, and a rerun resumes on the trajectory of a run never interrupted. A second signal
/// during a save stops at once and leaves the newest complete checkpoint loadable.
/// </summary>
public sealed class SignalTests
{
    private static string[] Flags(TrainingFixture fixture, string output, int saveSteps = 100) =>
        TrainingRuns.Common(fixture, output, "--max_steps", "6", "--per_device_train_batch_size", "2", "--save_strategy", "steps",
            "--save_steps", saveSteps.ToString(System.Globalization.CultureInfo.InvariantCulture), "--lr_scheduler_type", "cosine",
            "--warmup_steps", "1", "--learning_rate", "5e-3");

    [Fact]
    public void Sigterm_mid_step_saves_a_checkpoint_exits_143_and_resumes_on_the_same_trajectory()
    {
        using var fixture = new TrainingFixture();
        var straight = Straight(fixture);
        var stopped = fixture.Output("stopped");
        using (var process = new SignalProcess(CliProcess.TestHostStartInfo(["train-pausing-step", "3", "3", .. Flags(fixture, stopped)])))
        {
            process.WaitForStderr("step 3 under way");
            process.Signal("TERM");
            Assert.Equal(143, process.WaitForExit());
            var checkpoint = Path.Combine(stopped, "checkpoint-3");
            Assert.Contains($"Stopped by SIGTERM after step 3 of 6: checkpoint saved to {checkpoint}", process.Stderr);
            Assert.Contains("To resume, rerun the same command", process.Stderr);
        }
        // Step 3 finished (its update is in the checkpoint) and nothing after it ran.
        Assert.Equal(["checkpoint-3"], Directory.GetDirectories(stopped, "checkpoint-*").Select(Path.GetFileName));
        Assert.Equal(3, TrainerState.FromFile(Path.Combine(stopped, "checkpoint-3", "trainer_state.json")).GlobalStep);
        Assert.False(File.Exists(Path.Combine(stopped, "model.safetensors")));
        AssertResumesLike(fixture, straight, stopped);
    }

    [Fact]
    public void Sigint_to_the_cli_saves_a_checkpoint_and_exits_130()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("interrupted");
        string[] args = ["train", .. TrainingRuns.Common(fixture, output, "--max_steps", "100000", "--per_device_train_batch_size", "2")];
        using var process = new SignalProcess(CliProcess.StartInfo(args));
        process.WaitForStderr("Training 100000 steps");
        process.Signal("INT");
        Assert.Equal(130, process.WaitForExit());
        var checkpoint = Assert.Single(Directory.GetDirectories(output, "checkpoint-*"));
        var step = TrainerState.FromFile(Path.Combine(checkpoint, "trainer_state.json")).GlobalStep;
        Assert.InRange(step, 1, 99_999);
        Assert.Contains($"Stopped by SIGINT after step {step} of 100000: checkpoint saved to {checkpoint}", process.Stderr);
        // The rows logged up to the stop are in the checkpoint, one per step.
        Assert.Equal(Enumerable.Range(1, step), TrainingRuns.LoggedLosses(checkpoint).Select(r => r.Step));
        Assert.False(File.Exists(Path.Combine(output, ".qwentune.lock")));
    }

    [Fact]
    public void Sigterm_during_a_save_lets_the_save_complete_then_stops()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("saving");
        using var process = new SignalProcess(CliProcess.TestHostStartInfo(["train-pausing-save", "4", "2", .. Flags(fixture, output, saveSteps: 2)]));
        process.WaitForStderr("checkpoint-4 written");
        process.Signal("TERM");
        Assert.Equal(143, process.WaitForExit());
        Assert.Equal(["checkpoint-2", "checkpoint-4"], Directory.GetDirectories(output, "checkpoint-*").Select(Path.GetFileName).Order());
        Assert.Empty(Directory.GetDirectories(output, ".tmp-checkpoint-*"));
        Assert.Contains($"after step 4 of 6: checkpoint saved to {Path.Combine(output, "checkpoint-4")}", process.Stderr);
    }

    [Fact]
    public void Second_sigterm_during_a_save_stops_at_once_and_the_newest_complete_checkpoint_resumes()
    {
        using var fixture = new TrainingFixture();
        var straight = Straight(fixture);
        var stopped = fixture.Output("twice");
        using (var process = new SignalProcess(CliProcess.TestHostStartInfo(["train-pausing-save", "4", "120", .. Flags(fixture, stopped, saveSteps: 2)])))
        {
            process.WaitForStderr("checkpoint-4 written");
            process.Signal("TERM");
            process.WaitForStderr("Received SIGTERM");
            process.Signal("TERM");
            Assert.Equal(143, process.WaitForExit());   // at once, not after the 120 s pause
            Assert.Contains("Received SIGTERM again: stopping now", process.Stderr);
        }
        Assert.Equal(["checkpoint-2"], Directory.GetDirectories(stopped, "checkpoint-*").Select(Path.GetFileName));
        Assert.NotEmpty(Directory.GetDirectories(stopped, ".tmp-checkpoint-4-*"));
        Assert.Equal(Hash(Path.Combine(straight, "checkpoint-2", "model.safetensors")), Hash(Path.Combine(stopped, "checkpoint-2", "model.safetensors")));
        AssertResumesLike(fixture, straight, stopped, saveSteps: 2);
    }

    private static string Straight(TrainingFixture fixture)
    {
        var straight = fixture.Output("straight");
        var (code, _, stderr) = CliProcess.Run(["train", .. Flags(fixture, straight, saveSteps: 2)], null, null);
        Assert.True(code == 0, stderr);
        return straight;
    }

    /// <summary>A rerun of the same command resumes and ends where the uninterrupted run ended, loss for loss and byte for byte.</summary>
    private static void AssertResumesLike(TrainingFixture fixture, string straight, string stopped, int saveSteps = 100)
    {
        var (code, _, stderr) = CliProcess.Run(["train", .. Flags(fixture, stopped, saveSteps)], null, null);
        Assert.True(code == 0, stderr);
        Assert.Contains("Resumed from", stderr);
        var expected = TrainingRuns.LoggedLosses(straight);
        Assert.Equal(6, expected.Count);
        Assert.Equal(expected, TrainingRuns.LoggedLosses(stopped));
        Assert.Equal(Hash(Path.Combine(straight, "model.safetensors")), Hash(Path.Combine(stopped, "model.safetensors")));
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
