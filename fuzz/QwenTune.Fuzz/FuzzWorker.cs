using System.Diagnostics;
using System.Security.Cryptography;
using System.Text.Json;
using QwenTune.Fuzz.Targets;

namespace QwenTune.Fuzz;

/// <summary>
/// The fuzzing loop, in the process the supervisor starts: mutate a queued input, run it, keep it when it reaches new
/// coverage, save it when it is a finding. A watchdog records an input still running after <see cref="HangKill"/> as
/// a hang and exits (the supervisor starts a fresh worker); an input that kills the process (stack overflow) is the
/// one left in the work folder, which the supervisor records.
/// </summary>
public sealed class FuzzWorker(IFuzzTarget target, CorpusFolders folders, string workFolder, int seed)
{
    public const int HangExitCode = 3;
    /// <summary>CPU time of the process (not wall time: the fuzzer runs niced on a shared machine) that makes a hang.</summary>
    private static readonly TimeSpan HangKill = TimeSpan.FromSeconds(20);

    private readonly List<byte[]> _queue = [];
    private readonly FuzzStats _stats = new();
    private long _currentStartTicks;

    /// <summary>Set after the first execution, which loads fixtures and JIT-compiles under instrumentation: never a hang.</summary>
    private volatile bool _warm;
    private byte[] _current = [];

    public FuzzStats Run(TimeSpan duration, string statsPath)
    {
        Directory.CreateDirectory(workFolder);
        Directory.CreateDirectory(folders.Queue);
        Directory.CreateDirectory(folders.Crashes);
        var random = new Random(seed);
        var mutator = new Mutator(random, target.Dictionary);
        using var coverage = new CoverageMap();
        StartWatchdog(statsPath);

        var stopwatch = Stopwatch.StartNew();
        foreach (var path in folders.CommittedInputs().Concat(CorpusFolders.Files(folders.Queue)))
        {
            var input = File.ReadAllBytes(path);
            Execute(input, coverage, stopwatch);
            _queue.Add(input);
        }
        if (_queue.Count == 0)
            _queue.Add([]);
        _stats.Seeds = _queue.Count;

        var lastStats = stopwatch.Elapsed;
        while (stopwatch.Elapsed < duration)
        {
            // Favour recent finds (they reached new code) without starving the seeds.
            var parent = random.Next(3) == 0 ? _queue[^(1 + random.Next(Math.Min(_queue.Count, 16)))] : _queue[random.Next(_queue.Count)];
            var input = mutator.Mutate(parent, _queue);
            var (outcome, isNew) = Execute(input, coverage, stopwatch);
            if (isNew && !outcome.IsFinding)
            {
                _queue.Add(input);
                File.WriteAllBytes(Path.Combine(folders.Queue, Hash(input)), input);
            }
            if (stopwatch.Elapsed - lastStats > TimeSpan.FromSeconds(10))
            {
                lastStats = stopwatch.Elapsed;
                WriteStats(statsPath, stopwatch.Elapsed, coverage.Edges);
            }
        }
        WriteStats(statsPath, stopwatch.Elapsed, coverage.Edges);
        return _stats;
    }

    private (FuzzOutcome Outcome, bool IsNew) Execute(byte[] input, CoverageMap coverage, Stopwatch stopwatch)
    {
        coverage.Reset();
        _current = input;
        Volatile.Write(ref _currentStartTicks, Process.GetCurrentProcess().TotalProcessorTime.Ticks);
        var outcome = FuzzExecution.Run(target, input, workFolder);
        Volatile.Write(ref _currentStartTicks, 0);
        _warm = true;
        _stats.Executions++;
        _stats.Seconds = stopwatch.Elapsed.TotalSeconds;
        if (outcome.Kind == FuzzOutcomeKind.Rejected)
            _stats.Rejected++;
        if (outcome.IsFinding)
            Record(input, outcome.Signature, outcome.Describe());
        return (outcome, coverage.MergeNew());
    }

    private void Record(byte[] input, string signature, string description)
    {
        var name = $"{signature.Split(' ')[0].ToLowerInvariant()}-{Hash(input)}";
        var path = Path.Combine(folders.Crashes, name);
        File.WriteAllBytes(path, input);
        File.WriteAllText(path + ".txt", description);
        _stats.Findings.Add(new FuzzFinding(signature, path));
    }

    private void StartWatchdog(string statsPath)
    {
        var thread = new Thread(() =>
        {
            while (true)
            {
                Thread.Sleep(500);
                var start = Volatile.Read(ref _currentStartTicks);
                if (!_warm || start == 0 || Process.GetCurrentProcess().TotalProcessorTime - TimeSpan.FromTicks(start) < HangKill)
                    continue;
                Record(_current, "hang", $"still running after {HangKill.TotalSeconds} s");
                WriteStats(statsPath, TimeSpan.FromSeconds(_stats.Seconds), edges: -1);
                Environment.Exit(HangExitCode);
            }
        }) { IsBackground = true, Name = "fuzz watchdog" };
        thread.Start();
    }

    private void WriteStats(string path, TimeSpan elapsed, int edges)
    {
        _stats.Seconds = elapsed.TotalSeconds;
        if (edges >= 0)
            _stats.Edges = edges;
        _stats.QueueSize = _queue.Count;
        File.WriteAllText(path, JsonSerializer.Serialize(_stats));
    }

    public static string Hash(byte[] input) => Convert.ToHexStringLower(SHA256.HashData(input))[..16];
}
