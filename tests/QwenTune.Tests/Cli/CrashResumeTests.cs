using System.Diagnostics;
using System.Security.Cryptography;
using QwenTune.Tests.Training;

namespace QwenTune.Tests.Cli;

/// <summary>
/// A run killed with SIGKILL in the middle of writing a checkpoint resumes, from the last complete checkpoint,
/// on the trajectory of an uninterrupted run; the half-written checkpoint never counts and the earlier one is
/// untouched.
/// </summary>
public sealed class CrashResumeTests
{
    private static string[] Args(TrainingFixture fixture, string output) =>
    [
        "train", .. TrainingRuns.Common(fixture, output, "--max_steps", "6", "--per_device_train_batch_size", "2",
            "--gradient_accumulation_steps", "1", "--bf16", "True", "--save_strategy", "steps", "--save_steps", "2",
            "--lr_scheduler_type", "cosine", "--warmup_steps", "1", "--learning_rate", "5e-3"),
    ];

    [Fact]
    public void Run_killed_while_saving_resumes_on_the_uninterrupted_trajectory()
    {
        using var fixture = new TrainingFixture();
        var straight = fixture.Output("straight");
        var (code, _, stderr) = CliProcess.Run(Args(fixture, straight), null, null);
        Assert.True(code == 0, stderr);

        var killed = fixture.Output("killed");
        using (var process = Process.Start(CliProcess.TestHostStartInfo(["train-pausing-save", "4", "120", .. Args(fixture, killed)[1..]]))!)
        {
            _ = process.StandardOutput.ReadToEndAsync();
            process.StandardInput.Close();
            WaitForLine(process, "checkpoint-4 written");
            process.Kill(entireProcessTree: true);   // SIGKILL, with every file of checkpoint-4 written but not renamed
            process.WaitForExit();
        }
        Assert.True(Directory.Exists(Path.Combine(killed, "checkpoint-2")));
        Assert.False(Directory.Exists(Path.Combine(killed, "checkpoint-4")));
        Assert.NotEmpty(Directory.GetDirectories(killed, ".tmp-checkpoint-4-*"));
        // The complete checkpoint equals the uninterrupted run's, byte for byte.
        Assert.Equal(Hash(Path.Combine(straight, "checkpoint-2", "model.safetensors")), Hash(Path.Combine(killed, "checkpoint-2", "model.safetensors")));

        var (resumedCode, _, resumedErr) = CliProcess.Run(Args(fixture, killed), null, null);
        Assert.True(resumedCode == 0, resumedErr);
        Assert.Contains("Resumed from", resumedErr);
        Assert.Empty(Directory.GetDirectories(killed, ".tmp-checkpoint-*"));
        var expected = TrainingRuns.LoggedLosses(straight);
        Assert.Equal(6, expected.Count);
        Assert.Equal(expected, TrainingRuns.LoggedLosses(killed));
        Assert.Equal(Hash(Path.Combine(straight, "model.safetensors")), Hash(Path.Combine(killed, "model.safetensors")));
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));

    private static void WaitForLine(Process process, string marker)
    {
        while (process.StandardError.ReadLine() is { } line)
        {
            if (line.Contains(marker, StringComparison.Ordinal))
                return;
        }
        throw new InvalidOperationException($"the process ended before printing '{marker}'");
    }
}
