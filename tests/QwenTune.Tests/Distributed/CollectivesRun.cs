using System.Text.Json;

namespace QwenTune.Tests.Distributed;

/// <summary>
/// One mpirun of the worker's "collectives" mode, shared by every test of a class: each mpirun costs seconds, and one
/// run checks all collectives. Holds each rank's JSON report.
/// </summary>
public abstract class CollectivesRun : IDisposable
{
    public const int Seed = 3;

    private readonly TempFolder _folder = new();

    protected CollectivesRun(int ranks)
    {
        Ranks = ranks;
        var result = MpiRun.Run(ranks, TimeSpan.FromSeconds(120), "collectives", _folder.Path, Seed.ToString(System.Globalization.CultureInfo.InvariantCulture));
        Stdout = result.Stdout;
        if (result.ExitCode != 0)
            throw new InvalidOperationException($"mpirun -np {ranks} exited with {result.ExitCode}.\nstdout:\n{result.Stdout}\nstderr:\n{result.Stderr}");
        Reports = Enumerable.Range(0, ranks)
            .Select(rank => JsonDocument.Parse(File.ReadAllText(_folder.File($"rank{rank}.json"))).RootElement.Clone())
            .ToList();
    }

    public int Ranks { get; }

    public string Stdout { get; }

    /// <summary>rank{r}.json of each rank, indexed by rank.</summary>
    public IReadOnlyList<JsonElement> Reports { get; }

    public double[] Doubles(int rank, string scenario) =>
        Reports[rank].GetProperty("results").GetProperty(scenario).EnumerateArray().Select(e => e.GetDouble()).ToArray();

    public long[] Longs(int rank, string scenario) =>
        Reports[rank].GetProperty("results").GetProperty(scenario).EnumerateArray().Select(e => e.GetInt64()).ToArray();

    public string Text(int rank, string scenario) =>
        Reports[rank].GetProperty("results").GetProperty(scenario).GetString()!;

    public void Dispose()
    {
        _folder.Dispose();
        GC.SuppressFinalize(this);
    }
}
