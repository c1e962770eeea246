namespace QwenTune.Bench;

/// <summary>Finds the repository root (the folder holding QwenTune.slnx) above the benchmark's binaries.</summary>
internal static class RepositoryPaths
{
    public static string Root { get; } = Find();

    private static string Find()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "QwenTune.slnx")))
                return dir.FullName;
        }
        throw new InvalidOperationException("QwenTune.slnx not found above " + AppContext.BaseDirectory);
    }
}
