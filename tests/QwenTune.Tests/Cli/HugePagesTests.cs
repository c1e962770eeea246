using System.Text.Json;

namespace QwenTune.Tests.Cli;

/// <summary>
/// Training commands restart themselves with glibc's malloc asking for transparent huge pages where the kernel gives
/// them on request (QwenTune.Runtime.HugePages), and say so on the startup line; the same results either way.
/// </summary>
public sealed class HugePagesTests
{
    [Fact]
    public void Eval_runs_with_huge_pages_where_the_kernel_gives_them_unless_turned_off()
    {
        using var fixture = new TrainingFixture(samples: 2);
        string[] eval = ["eval", "--model_name_or_path", fixture.ModelDir, "--data_path", fixture.DataPath, "--device", "cpu"];
        var asked = CliProcess.Run(eval, null, new Dictionary<string, string> { ["GLIBC_TUNABLES"] = "glibc.malloc.arena_max=4" });
        var off = CliProcess.Run(eval, null, new Dictionary<string, string> { ["QWENTUNE_HUGE_PAGES"] = "0" });
        var refused = CliProcess.Run(eval, null, new Dictionary<string, string> { ["GLIBC_TUNABLES"] = "glibc.malloc.hugetlb=0" });
        foreach (var run in new[] { asked, off, refused })
            Assert.True(run.ExitCode == 0, run.Stderr);

        // Read apart from the code under test: the kernel's choice, and the C library (glibc names itself in ldd's banner).
        var mode = File.Exists(ThpSetting) ? File.ReadAllText(ThpSetting) : "";
        var expected = OperatingSystem.IsLinux() && (mode.Contains("[always]", StringComparison.Ordinal) || mode.Contains("[madvise]", StringComparison.Ordinal))
            && File.Exists("/lib/x86_64-linux-gnu/libc.so.6") | File.Exists("/lib/aarch64-linux-gnu/libc.so.6") | File.Exists("/lib64/libc.so.6");
        Assert.Equal(expected, asked.Stderr.Contains(", huge pages.", StringComparison.Ordinal));
        Assert.DoesNotContain("huge pages", off.Stderr);
        Assert.DoesNotContain("huge pages", refused.Stderr);
        Assert.Equal(EvalLoss(off.Stdout), EvalLoss(asked.Stdout));
    }

    private const string ThpSetting = "/sys/kernel/mm/transparent_hugepage/enabled";

    private static double EvalLoss(string stdout) =>
        JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement.GetProperty("eval_loss").GetDouble();
}
