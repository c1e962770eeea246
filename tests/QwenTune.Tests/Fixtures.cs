namespace QwenTune.Tests;

/// <summary>
/// Locates the reference fixtures. The small ones (tokenizers, chat templates, parity lines, reference losses,
/// model configs) are copied into tests/fixtures so a fresh clone passes its tests; the two reference models'
/// weights (38 MB) stay in the fixture pack at ../shared/fixtures beside the repository. A test that needs them
/// calls <see cref="Model"/>: it is reported Skipped, with the reason, when the pack is absent, and fails instead
/// when QWENTUNE_REQUIRE_REFERENCE_MODELS=1 (as .ci/run sets it), so CI always runs it.
/// </summary>
internal static class Fixtures
{
    public const string RequireReferenceModelsVariable = "QWENTUNE_REQUIRE_REFERENCE_MODELS";

    public static string RepositoryRoot { get; } = FindRepositoryRoot();

    /// <summary>tests/fixtures: the in-repository copies (provenance in its README).</summary>
    public static string Root { get; } = Path.Combine(RepositoryRoot, "tests", "fixtures");

    /// <summary>The external fixture pack, present on the project's machines and in CI.</summary>
    public static string SharedRoot { get; } = Path.GetFullPath(Path.Combine(RepositoryRoot, "..", "shared", "fixtures"));

    public static bool ReferenceModelsRequired => Environment.GetEnvironmentVariable(RequireReferenceModelsVariable) == "1";

    public static string File(params string[] parts) => Path.Combine([Root, .. parts]);

    /// <summary>
    /// The folder of reference model <paramref name="name"/> (tiny-qwen2, tiny-qwen3) with its weights. Call it inside
    /// a [SkippableFact] / [SkippableTheory]: it skips the test when the fixture pack is absent.
    /// </summary>
    public static string Model(string name)
    {
        var directory = Path.Combine(SharedRoot, "models", name);
        var present = System.IO.File.Exists(Path.Combine(directory, "model.safetensors"));
        if (!present && ReferenceModelsRequired)
            throw new InvalidOperationException(
                $"{RequireReferenceModelsVariable}=1 but the reference model {directory}/model.safetensors is missing: " +
                "the fixture pack ../shared/fixtures must be present beside the repository.");
        Skip.IfNot(present, $"needs the reference model {name} of the fixture pack ({directory}), which is absent here");
        return directory;
    }

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
