using System.Text.Json;
using QwenTune.Runtime;

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

    [Fact]
    public void Jemalloc_keeps_freed_pages_unless_the_user_configured_it()
    {
        const string path = "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2";
        static Func<string, string?> Environment(params (string Name, string Value)[] set) =>
            name => set.FirstOrDefault(v => v.Name == name).Value;

        // Huge pages on request: jemalloc asked for them, its pages kept for the run (no decay, no separate oversize arena).
        var planned = NativeAllocator.PlannedChanges("auto", Environment(), path, hugePages: true, glibc: true);
        Assert.Equal(path, planned["LD_PRELOAD"]);
        Assert.Equal("thp:always,metadata_thp:auto,dirty_decay_ms:-1,oversize_threshold:0,lg_extent_max_active_fit:16", planned["MALLOC_CONF"]);
        Assert.DoesNotContain("GLIBC_TUNABLES", planned.Keys);

        // No huge pages: the pages are still kept; a user's preload stays after ours.
        planned = NativeAllocator.PlannedChanges("auto", Environment(("LD_PRELOAD", "/opt/mine.so")), path, hugePages: false, glibc: true);
        Assert.Equal($"{path}:/opt/mine.so", planned["LD_PRELOAD"]);
        Assert.Equal("dirty_decay_ms:-1,oversize_threshold:0,lg_extent_max_active_fit:16", planned["MALLOC_CONF"]);

        // The user's own MALLOC_CONF is theirs.
        planned = NativeAllocator.PlannedChanges("auto", Environment(("MALLOC_CONF", "narenas:2")), path, hugePages: true, glibc: true);
        Assert.DoesNotContain("MALLOC_CONF", planned.Keys);

        // glibc: huge pages appended to the user's tunables; nothing where they are off, set, or the C library is not glibc.
        planned = NativeAllocator.PlannedChanges("glibc", Environment(("GLIBC_TUNABLES", "glibc.malloc.arena_max=4")), path, hugePages: true, glibc: true);
        Assert.Equal(["GLIBC_TUNABLES"], planned.Keys);
        Assert.Equal("glibc.malloc.arena_max=4:glibc.malloc.hugetlb=1", planned["GLIBC_TUNABLES"]);
        Assert.Empty(NativeAllocator.PlannedChanges("auto", Environment(), jemalloc: null, hugePages: false, glibc: true));
        Assert.Empty(NativeAllocator.PlannedChanges("auto", Environment(("GLIBC_TUNABLES", "glibc.malloc.hugetlb=0")), null, hugePages: true, glibc: true));
        Assert.Empty(NativeAllocator.PlannedChanges("auto", Environment(), null, hugePages: true, glibc: false));
    }

    private const string ThpSetting = "/sys/kernel/mm/transparent_hugepage/enabled";

    private static double EvalLoss(string stdout) =>
        JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement.GetProperty("eval_loss").GetDouble();
}
