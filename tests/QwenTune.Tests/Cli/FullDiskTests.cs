using System.Diagnostics;
using QwenTune.Checkpoints;
using QwenTune.Tests.Training;

namespace QwenTune.Tests.Cli;

/// <summary>
/// A real full disk: output_dir on a small tmpfs (mounting needs root, as the CI machine runs) that holds one
/// checkpoint but not two. The second save fails with a clear message and exit code 1; the first checkpoint
/// stays complete and loadable, and no half-written folder is left behind.
/// </summary>
public sealed class FullDiskTests
{
    [Fact]
    public void Full_output_dir_fails_the_save_cleanly_and_keeps_earlier_checkpoints()
    {
        using var fixture = new TrainingFixture();
        var mountPoint = fixture.Output("small-disk");
        Directory.CreateDirectory(mountPoint);
        RunTool("mount", "-t", "tmpfs", "-o", "size=52m", "tmpfs", mountPoint);
        try
        {
            var output = Path.Combine(mountPoint, "run");
            var (code, _, stderr) = CliProcess.Run(
                ["train", .. TrainingRuns.Common(fixture, output, "--max_steps", "4", "--per_device_train_batch_size", "2",
                    "--save_strategy", "steps", "--save_steps", "2")], null, null);
            Assert.True(code == 1, stderr);
            Assert.Contains("could not write checkpoint-4", stderr);
            Assert.Contains("No space left on device", stderr);
            Assert.Contains("Earlier checkpoints are untouched", stderr);
            Assert.DoesNotContain("   at ", stderr);   // no stack trace
            Assert.Empty(Directory.GetDirectories(output, ".tmp-checkpoint-*"));
            Assert.Equal(["checkpoint-2"], Directory.GetDirectories(output, "checkpoint-*").Select(Path.GetFileName));
            using var checkpoint = HfCheckpoint.Open(Path.Combine(output, "checkpoint-2"));
            Assert.NotEmpty(checkpoint.Entries);
            using var optimizer = SafeTensorsReader.Open(Path.Combine(output, "checkpoint-2", "optimizer.safetensors"));
            Assert.NotEmpty(optimizer.Entries);
        }
        finally
        {
            RunTool("umount", mountPoint);
        }
    }

    private static void RunTool(string tool, params string[] args)
    {
        var info = new ProcessStartInfo(tool) { RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        using var process = Process.Start(info)!;
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"{tool} {string.Join(" ", args)} failed (this test needs root to mount a tmpfs): {error}");
    }
}
