using System.Text.Json;

namespace QwenTune.Tests.Cli;

/// <summary>
/// Training commands restart themselves under jemalloc where it is installed, else glibc's malloc asking for
/// transparent huge pages where the kernel gives them on request (QwenTune.Runtime.NativeAllocator), and say which on
/// the startup line; the results are the same under each.
/// </summary>
public sealed class NativeAllocatorTests
{
    [Fact]
    public void Eval_runs_under_the_chosen_allocator_and_scores_the_same()
    {
        using var fixture = new TrainingFixture(samples: 2);
        string[] eval = ["eval", "--model_name_or_path", fixture.ModelDir, "--data_path", fixture.DataPath, "--device", "cpu"];
        var chosen = CliProcess.Run(eval, null, new Dictionary<string, string> { ["GLIBC_TUNABLES"] = "glibc.malloc.arena_max=4" });
        var glibc = CliProcess.Run(eval, null, new Dictionary<string, string> { ["QWENTUNE_ALLOCATOR"] = "glibc" });
        var system = CliProcess.Run(eval, null, new Dictionary<string, string> { ["QWENTUNE_ALLOCATOR"] = "system" });
        var refused = CliProcess.Run(eval, null, new Dictionary<string, string> { ["QWENTUNE_ALLOCATOR"] = "glibc", ["GLIBC_TUNABLES"] = "glibc.malloc.hugetlb=0" });
        foreach (var run in new[] { chosen, glibc, system, refused })
            Assert.True(run.ExitCode == 0, run.Stderr);

        // Read apart from the code under test: the kernel's setting, and the libraries on disk.
        var mode = File.Exists(ThpSetting) ? File.ReadAllText(ThpSetting) : "";
        var hugePages = OperatingSystem.IsLinux() && (mode.Contains("[always]", StringComparison.Ordinal) || mode.Contains("[madvise]", StringComparison.Ordinal));
        var jemalloc = OperatingSystem.IsLinux() && new[] { "x86_64-linux-gnu", "aarch64-linux-gnu", "" }.Any(dir => File.Exists(Path.Combine("/usr/lib", dir, "libjemalloc.so.2")));
        var glibcHugePages = hugePages && File.Exists("/lib/x86_64-linux-gnu/libc.so.6") | File.Exists("/lib/aarch64-linux-gnu/libc.so.6") | File.Exists("/lib64/libc.so.6");
        Assert.Contains(jemalloc ? (hugePages ? ", jemalloc, huge pages." : ", jemalloc.") : glibcHugePages ? ", 1 rank, huge pages." : ", 1 rank.", chosen.Stderr);
        Assert.Contains(glibcHugePages ? ", 1 rank, huge pages." : ", 1 rank.", glibc.Stderr);
        Assert.Contains(", 1 rank.", system.Stderr);
        Assert.Contains(", 1 rank.", refused.Stderr);
        foreach (var run in new[] { glibc, chosen })
            Assert.Equal(EvalLoss(system.Stdout), EvalLoss(run.Stdout));
    }

    private const string ThpSetting = "/sys/kernel/mm/transparent_hugepage/enabled";

    private static double EvalLoss(string stdout) =>
        JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement.GetProperty("eval_loss").GetDouble();
}
