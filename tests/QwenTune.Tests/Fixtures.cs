namespace QwenTune.Tests;

/// <summary>Locates the shared reference fixtures (../shared/fixtures beside the repository root).</summary>
internal static class Fixtures
{
    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    public static string Root { get; } = Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "fixtures"));

    public static string File(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (System.IO.File.Exists(Path.Combine(dir.FullName, "QwenTune.slnx")))
                return dir.FullName;
        }
        throw new InvalidOperationException("QwenTune.slnx not found above " + AppContext.BaseDirectory);
    }
}
