namespace QwenTune.Fuzz;

/// <summary>
/// fuzz/corpus/&lt;target&gt;/seeds (hand-picked and fixture inputs) and regressions (every input that once found a bug,
/// replayed by the test suite), plus fuzz/findings/&lt;target&gt; for a run's queue and crashes (not committed).
/// </summary>
public sealed class CorpusFolders(string repositoryRoot, string target)
{
    public string Seeds { get; } = Path.Combine(repositoryRoot, "fuzz", "corpus", target, "seeds");

    public string Regressions { get; } = Path.Combine(repositoryRoot, "fuzz", "corpus", target, "regressions");

    public string Findings { get; } = Path.Combine(repositoryRoot, "fuzz", "findings", target);

    public string Queue => Path.Combine(Findings, "queue");

    public string Crashes => Path.Combine(Findings, "crashes");

    /// <summary>The committed inputs: seeds and regressions, in name order.</summary>
    public IEnumerable<string> CommittedInputs() => Files(Seeds).Concat(Files(Regressions));

    public static IEnumerable<string> Files(string folder) =>
        Directory.Exists(folder)
            ? Directory.EnumerateFiles(folder).Where(f => !f.EndsWith(".txt", StringComparison.Ordinal)).Order(StringComparer.Ordinal)
            : [];

    /// <summary>The folder holding QwenTune.slnx, above the binaries or the current folder.</summary>
    public static string FindRepositoryRoot()
    {
        foreach (var start in new[] { AppContext.BaseDirectory, Environment.CurrentDirectory })
        {
            for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            {
                if (File.Exists(Path.Combine(dir.FullName, "QwenTune.slnx")))
                    return dir.FullName;
            }
        }
        throw new InvalidOperationException("QwenTune.slnx not found above " + AppContext.BaseDirectory + " or the current folder.");
    }
}
