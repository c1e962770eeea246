using System.Text.Json.Nodes;
using QwenTune.Tests.Training;

namespace QwenTune.Tests.Cli;

/// <summary>A second `train` into the output_dir of a live run is refused with its pid; once that run is SIGKILLed, its lock is stale.</summary>
public sealed class RunLockCliTests
{
    [Fact]
    public void Second_train_into_a_busy_folder_is_refused_and_a_killed_runs_lock_is_stale()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("busy");
        string[] flags = [.. TrainingRuns.Common(fixture, output, "--max_steps", "4", "--per_device_train_batch_size", "2",
            "--save_strategy", "steps", "--save_steps", "2")];
        using (var first = new SignalProcess(CliProcess.TestHostStartInfo(["train-pausing-save", "2", "120", .. flags])))
        {
            first.WaitForStderr("checkpoint-2 written");
            var (code, _, stderr) = CliProcess.Run(["train", .. flags], null, null);
            Assert.Equal(1, code);
            Assert.Contains($"is in use by another run: pid {first.Id}", stderr);
            // The first run's work is untouched: its staged checkpoint is still there (the refused run cleaned nothing).
            Assert.NotEmpty(Directory.GetDirectories(output, ".tmp-checkpoint-2-*"));
            Assert.Equal(first.Id, (int)JsonNode.Parse(File.ReadAllText(Path.Combine(output, ".qwentune.lock")))!["pid"]!);
        }   // SIGKILL: the lock file stays behind
        Assert.True(File.Exists(Path.Combine(output, ".qwentune.lock")));
        var (again, _, againErr) = CliProcess.Run(["train", .. flags], null, null);
        Assert.True(again == 0, againErr);
        Assert.Contains("removing a stale lock", againErr);
        Assert.False(File.Exists(Path.Combine(output, ".qwentune.lock")));
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors")));
    }
}
