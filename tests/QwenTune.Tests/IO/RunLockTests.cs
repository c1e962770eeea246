using System.Diagnostics;
using System.Text.Json.Nodes;
using QwenTune.IO;

namespace QwenTune.Tests.IO;

/// <summary>output_dir/.qwentune.lock: held while a run lives, refused to a second one with its pid, stale once its process is gone.</summary>
public sealed class RunLockTests
{
    [Fact]
    public void A_held_lock_refuses_a_second_run_with_the_holder_pid_and_is_released_on_dispose()
    {
        using var folder = new TempFolder();
        var lockFile = folder.File(RunLock.FileName);
        using (RunLock.Acquire(folder.Path, TextWriter.Null))
        {
            Assert.Equal(Environment.ProcessId, (int)JsonNode.Parse(File.ReadAllText(lockFile))!["pid"]!);
            var refused = Assert.Throws<QwenTuneException>(() => RunLock.Acquire(folder.Path, TextWriter.Null));
            Assert.Contains($"is in use by another run: pid {Environment.ProcessId}", refused.Message);
            Assert.Contains(lockFile, refused.Message);
        }
        Assert.False(File.Exists(lockFile));
        using (RunLock.Acquire(folder.Path, TextWriter.Null))
            Assert.True(File.Exists(lockFile));
    }

    [Fact]
    public void A_lock_of_a_process_that_is_gone_is_stale_and_replaced()
    {
        using var folder = new TempFolder();
        using var gone = Process.Start(new ProcessStartInfo("true") { UseShellExecute = false })!;
        gone.WaitForExit();
        var lockFile = folder.File(RunLock.FileName);
        File.WriteAllText(lockFile, new JsonObject
        {
            ["pid"] = gone.Id, ["host"] = Environment.MachineName, ["started"] = DateTime.UtcNow.AddMinutes(-5).ToString("o"),
        }.ToJsonString());
        var log = new StringWriter();
        using (RunLock.Acquire(folder.Path, log))
            Assert.Equal(Environment.ProcessId, (int)JsonNode.Parse(File.ReadAllText(lockFile))!["pid"]!);
        Assert.Contains($"removing a stale lock of pid {gone.Id}", log.ToString());
    }

    [Fact]
    public void A_live_pid_with_another_start_time_is_a_reused_pid_and_stale()
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File(RunLock.FileName), new JsonObject
        {
            ["pid"] = Environment.ProcessId, ["host"] = Environment.MachineName, ["started"] = "2001-01-01T00:00:00.0000000Z",
        }.ToJsonString());
        using (RunLock.Acquire(folder.Path, TextWriter.Null))
            Assert.Contains(Process.GetCurrentProcess().StartTime.ToUniversalTime().ToString("o"), File.ReadAllText(folder.File(RunLock.FileName)));
    }

    [Fact]
    public void A_lock_from_another_host_is_respected()
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File(RunLock.FileName), new JsonObject
        {
            ["pid"] = 1, ["host"] = "some-other-node", ["started"] = "2001-01-01T00:00:00.0000000Z",
        }.ToJsonString());
        var refused = Assert.Throws<QwenTuneException>(() => RunLock.Acquire(folder.Path, TextWriter.Null));
        Assert.Contains("pid 1 on some-other-node", refused.Message);
    }
}
