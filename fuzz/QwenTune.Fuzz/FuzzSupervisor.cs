using System.Diagnostics;
using System.Text.Json;
using QwenTune.Fuzz.Targets;

namespace QwenTune.Fuzz;

/// <summary>
/// Runs one target for a wall-clock budget: instruments a copy of the product assemblies with the <c>sharpfuzz</c>
/// tool when it is installed (coverage-guided; otherwise coverage-less), starts <see cref="FuzzWorker"/> processes
/// one after another until the time is spent (a worker that dies or hangs is replaced, its input recorded), and sums
/// their counters.
/// </summary>
public sealed class FuzzSupervisor(IFuzzTarget target, string repositoryRoot, bool coverage, int seed)
{
    private static readonly string[] InstrumentedAssemblies = ["QwenTune.dll", "QwenTune.Jinja.dll"];

    public object Run(TimeSpan duration)
    {
        var folders = new CorpusFolders(repositoryRoot, target.Name);
        var scratch = Path.Combine(Path.GetTempPath(), $"qwentune-fuzz-{target.Name}-{Environment.ProcessId}");
        var binaries = coverage ? InstrumentedCopy(Path.Combine(scratch, "bin")) : null;
        var stopwatch = Stopwatch.StartNew();
        var total = new FuzzStats();
        var workers = 0;
        var deaths = new List<FuzzFinding>();
        while (stopwatch.Elapsed < duration - TimeSpan.FromSeconds(1))
        {
            var workFolder = Path.Combine(scratch, $"work{workers}");
            var statsPath = Path.Combine(scratch, $"stats{workers}.json");
            var remaining = duration - stopwatch.Elapsed;
            var exitCode = StartWorker(binaries, workFolder, statsPath, remaining, seed + workers);
            workers++;
            var stats = File.Exists(statsPath) ? JsonSerializer.Deserialize<FuzzStats>(File.ReadAllText(statsPath))! : new FuzzStats();
            Add(total, stats);
            if (exitCode is not 0 and not FuzzWorker.HangExitCode)
                deaths.Add(RecordDeath(folders, Path.Combine(workFolder, target.InputFileName), exitCode));
        }
        total.Findings.AddRange(deaths);
        Directory.Delete(scratch, recursive: true);

        var seconds = stopwatch.Elapsed.TotalSeconds;
        return new
        {
            target = target.Name,
            engine = binaries is null ? "in-process mutation fuzzer, coverage-less" : "in-process mutation fuzzer, SharpFuzz edge coverage",
            seconds = Math.Round(seconds, 1),
            executions = total.Executions,
            executions_per_s = Math.Round(total.Executions / seconds, 1),
            rejected_cleanly = total.Rejected,
            seeds = total.Seeds,
            edges = binaries is null ? (int?)null : total.Edges,
            queue = total.QueueSize,
            workers,
            crashes = total.Findings.Count,
            unique_crashes = total.Findings.GroupBy(f => f.Signature).Select(g => new { signature = g.Key, count = g.Count(), example = g.First().Path }).ToList(),
        };
    }

    private static void Add(FuzzStats total, FuzzStats stats)
    {
        total.Executions += stats.Executions;
        total.Rejected += stats.Rejected;
        total.Seeds = Math.Max(total.Seeds, stats.Seeds);
        total.Edges = Math.Max(total.Edges, stats.Edges);
        total.QueueSize = Math.Max(total.QueueSize, stats.QueueSize);
        total.Findings.AddRange(stats.Findings);
    }

    private int StartWorker(string? binaries, string workFolder, string statsPath, TimeSpan remaining, int workerSeed)
    {
        var entry = binaries is null ? Environment.ProcessPath! : "dotnet";
        var start = new ProcessStartInfo(entry) { UseShellExecute = false };
        if (binaries is not null)
            start.ArgumentList.Add(Path.Combine(binaries, "QwenTune.Fuzz.dll"));
        foreach (var argument in new[]
                 {
                     "--worker", target.Name, "--seconds", ((int)Math.Max(1, remaining.TotalSeconds)).ToString(System.Globalization.CultureInfo.InvariantCulture),
                     "--seed", workerSeed.ToString(System.Globalization.CultureInfo.InvariantCulture), "--work", workFolder, "--stats", statsPath,
                     "--root", repositoryRoot,
                 })
            start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        process.WaitForExit();
        return process.ExitCode;
    }

    private static FuzzFinding RecordDeath(CorpusFolders folders, string inputPath, int exitCode)
    {
        var input = File.Exists(inputPath) ? File.ReadAllBytes(inputPath) : [];
        var path = Path.Combine(folders.Crashes, $"died-{FuzzWorker.Hash(input)}");
        Directory.CreateDirectory(folders.Crashes);
        File.WriteAllBytes(path, input);
        File.WriteAllText(path + ".txt", $"the worker process died with exit code {exitCode} on this input (stack overflow or a native crash)");
        return new FuzzFinding($"process died (exit {exitCode})", path);
    }

    /// <summary>A copy of this program's folder with the product assemblies rewritten by <c>sharpfuzz</c>, or null if the tool is missing.</summary>
    private static string? InstrumentedCopy(string destination)
    {
        var tool = FindTool();
        if (tool is null)
        {
            Console.Error.WriteLine("sharpfuzz not found (dotnet tool install --global SharpFuzz.CommandLine); fuzzing without coverage.");
            return null;
        }
        CopyFolder(AppContext.BaseDirectory, destination);
        foreach (var assembly in InstrumentedAssemblies)
        {
            using var process = Process.Start(new ProcessStartInfo(tool, [Path.Combine(destination, assembly)]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
            var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
            process.WaitForExit();
            if (process.ExitCode != 0)
                throw new InvalidOperationException($"sharpfuzz {assembly} failed: {output}");
        }
        return destination;
    }

    private static string? FindTool()
    {
        var home = Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var candidates = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Append(Path.Combine(home, ".dotnet", "tools"));
        return candidates.Select(dir => Path.Combine(dir, "sharpfuzz")).FirstOrDefault(File.Exists);
    }

    /// <summary>
    /// Copies <paramref name="source"/>, linking the large native libraries (libtorch) instead. The entry assembly and
    /// the instrumented ones must be real files: the host resolves a linked entry to its original folder.
    /// </summary>
    private static void CopyFolder(string source, string destination)
    {
        foreach (var file in Directory.EnumerateFiles(source, "*", SearchOption.AllDirectories))
        {
            var target = Path.Combine(destination, Path.GetRelativePath(source, file));
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            if (new FileInfo(file).Length < (16 << 20))
                File.Copy(file, target, overwrite: true);
            else
                File.CreateSymbolicLink(target, file);
        }
    }
}
