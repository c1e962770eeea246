using System.Diagnostics;

namespace QwenTune.Tests.Distributed;

/// <summary>
/// Starts the collectives worker (built alongside the tests) as N ranks under Open MPI's mpirun, always with a
/// timeout: a rank that never joins a collective hangs the whole job, and that must fail a test, not hang it.
/// </summary>
internal static class MpiRun
{
    private static string WorkerDll => Path.Combine(AppContext.BaseDirectory, "QwenTune.CollectivesWorker.dll");

    public sealed record Result(int ExitCode, string Stdout, string Stderr, TimeSpan Elapsed);

    public static Result Run(int ranks, TimeSpan timeout, params string[] workerArgs) => RunDll(WorkerDll, ranks, timeout, workerArgs);

    /// <summary>`qwentune ARGS` as <paramref name="ranks"/> ranks.</summary>
    public static Result Cli(int ranks, TimeSpan timeout, params string[] args) =>
        RunDll(Path.Combine(AppContext.BaseDirectory, "QwenTune.Cli.dll"), ranks, timeout, args);

    /// <summary>Starts mpirun without waiting (a test that kills one of its ranks).</summary>
    public static Process Start(int ranks, params string[] cliArgs) =>
        Process.Start(StartInfo(Path.Combine(AppContext.BaseDirectory, "QwenTune.Cli.dll"), ranks, cliArgs))!;

    /// <summary>How to start the test host (tests/QwenTune.TestHost) as <paramref name="ranks"/> ranks.</summary>
    public static ProcessStartInfo TestHostStartInfo(int ranks, params string[] args) =>
        StartInfo(Path.Combine(AppContext.BaseDirectory, "QwenTune.TestHost.dll"), ranks, args);

    /// <summary>The pid of rank <paramref name="rank"/> among the processes mpirun (pid <paramref name="mpirun"/>) started (Linux /proc).</summary>
    public static int RankPid(int mpirun, int rank)
    {
        foreach (var folder in Directory.GetDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(folder), out var pid) || !DescendsFrom(pid, mpirun))
                continue;
            try
            {
                if (File.ReadAllText(Path.Combine(folder, "environ")).Split('\0').Contains($"OMPI_COMM_WORLD_RANK={rank}"))
                    return pid;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
            }
        }
        throw new InvalidOperationException($"no rank {rank} under mpirun {mpirun}");
    }

    private static bool DescendsFrom(int pid, int ancestor)
    {
        for (var depth = 0; depth < 8 && pid > 1; depth++)
        {
            try
            {
                // /proc/PID/stat: "pid (comm) state ppid ..."; comm may hold spaces, so read after the last ')'.
                var stat = File.ReadAllText($"/proc/{pid}/stat");
                pid = int.Parse(stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[1], System.Globalization.CultureInfo.InvariantCulture);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                return false;
            }
            if (pid == ancestor)
                return true;
        }
        return false;
    }

    private static ProcessStartInfo StartInfo(string dll, int ranks, IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(FindMpirun())
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        // As root, mpirun refuses to start anything (and still exits 0) unless told otherwise.
        if (Environment.UserName == "root")
            info.ArgumentList.Add("--allow-run-as-root");
        // Past the core count with 4 ranks on 2 cores; no binding, so ranks are not pinned to one shared core.
        foreach (var arg in new[] { "--oversubscribe", "--bind-to", "none", "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "-x", "TERM=dumb", "dotnet", dll })
            info.ArgumentList.Add(arg);
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        return info;
    }

    private static Result RunDll(string dll, int ranks, TimeSpan timeout, params string[] workerArgs)
    {
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(StartInfo(dll, ranks, workerArgs))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
            throw new TimeoutException(
                $"mpirun -np {ranks} {string.Join(" ", workerArgs)} did not finish in {timeout.TotalSeconds:0} s (a rank hung?).\n" +
                $"stdout:\n{stdout.Result}\nstderr:\n{stderr.Result}");
        }
        process.WaitForExit();
        return new Result(process.ExitCode, stdout.Result, stderr.Result, clock.Elapsed);
    }

    private static string FindMpirun()
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, "mpirun"))
            .FirstOrDefault(File.Exists);
        return path ?? throw new InvalidOperationException(
            "mpirun is not installed, so the multi-rank collectives tests cannot run. Install Open MPI: " +
            "`apt-get install openmpi-bin libopenmpi-dev` (.ci/run does this on CI).");
    }
}
