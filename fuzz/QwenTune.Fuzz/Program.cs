using System.Globalization;
using System.Text.Json;
using QwenTune.Fuzz;
using QwenTune.Fuzz.Targets;

// dotnet run --project fuzz/QwenTune.Fuzz -c Release -- <target> [--seconds 600] [--seed N] [--no-coverage]
// dotnet run --project fuzz/QwenTune.Fuzz -c Release -- replay <target> <file>...
return FuzzProgram.Run(args);

internal static class FuzzProgram
{
    public static int Run(string[] args)
    {
        if (args.Length >= 2 && args[0] == "--worker")
            return RunWorker(args);
        if (args.Length >= 2 && args[0] == "replay")
            return Replay(args[1], args.Skip(2).ToList());
        var target = args.Length > 0 ? FuzzTargets.Find(args[0]) : null;
        if (target is null)
            return Usage();
        var seconds = int.Parse(Option(args, "--seconds") ?? "600", CultureInfo.InvariantCulture);
        var seed = int.Parse(Option(args, "--seed") ?? Environment.TickCount.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        var supervisor = new FuzzSupervisor(target, CorpusFolders.FindRepositoryRoot(), coverage: !args.Contains("--no-coverage"), seed);
        var result = supervisor.Run(TimeSpan.FromSeconds(seconds));
        Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }

    private static int RunWorker(string[] args)
    {
        var target = FuzzTargets.Find(args[1]) ?? throw new ArgumentException(args[1]);
        var folders = new CorpusFolders(Option(args, "--root")!, target.Name);
        var worker = new FuzzWorker(target, folders, Option(args, "--work")!, int.Parse(Option(args, "--seed")!, CultureInfo.InvariantCulture));
        worker.Run(TimeSpan.FromSeconds(int.Parse(Option(args, "--seconds")!, CultureInfo.InvariantCulture)), Option(args, "--stats")!);
        return 0;
    }

    /// <summary>Runs files through a target and prints each outcome; exit 1 when any is a finding.</summary>
    private static int Replay(string targetName, IReadOnlyList<string> files)
    {
        var target = FuzzTargets.Find(targetName);
        if (target is null)
            return Usage();
        var folders = new CorpusFolders(CorpusFolders.FindRepositoryRoot(), target.Name);
        var work = Path.Combine(Path.GetTempPath(), $"qwentune-fuzz-replay-{Environment.ProcessId}");
        var findings = 0;
        foreach (var file in files.Count > 0 ? files : folders.CommittedInputs())
        {
            var outcome = FuzzExecution.Run(target, File.ReadAllBytes(file), work);
            findings += outcome.IsFinding ? 1 : 0;
            Console.WriteLine($"{file}: {outcome.Kind} in {outcome.Elapsed.TotalMilliseconds:F0} ms"
                              + (outcome.IsFinding ? $"\n{outcome.Describe()}" : outcome.Exception is { } e ? $": {e.GetType().Name}: {FirstLine(e.Message)}" : ""));
        }
        if (Directory.Exists(work))
            Directory.Delete(work, recursive: true);
        return findings == 0 ? 0 : 1;
    }

    private static string FirstLine(string text) => text.Split('\n')[0];

    private static string? Option(string[] args, string name)
    {
        var index = Array.IndexOf(args, name);
        return index >= 0 && index + 1 < args.Length ? args[index + 1] : null;
    }

    private static int Usage()
    {
        Console.Error.WriteLine("usage: dotnet run --project fuzz/QwenTune.Fuzz -c Release -- <target> [--seconds 600] [--seed N] [--no-coverage]");
        Console.Error.WriteLine("       dotnet run --project fuzz/QwenTune.Fuzz -c Release -- replay <target> [file...]");
        foreach (var target in FuzzTargets.All)
            Console.Error.WriteLine($"  {target.Name,-18} {target.Description}");
        return 2;
    }
}
