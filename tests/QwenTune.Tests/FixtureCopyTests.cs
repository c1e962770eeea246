using System.Security.Cryptography;

namespace QwenTune.Tests;

/// <summary>The in-repository fixture copies are the fixture pack's files, byte for byte (tests/fixtures/SHA256SUMS).</summary>
public sealed class FixtureCopyTests
{
    private static IReadOnlyList<(string Hash, string Path)> Manifest { get; } =
        File.ReadLines(Fixtures.File("SHA256SUMS"))
            .Where(line => line.Length > 0)
            .Select(line => (line[..64], line[66..]))
            .ToList();

    [SkippableFact]
    public void Every_copied_fixture_matches_its_listed_hash()
    {
        var copied = Manifest.Where(entry => !entry.Path.EndsWith(".safetensors", StringComparison.Ordinal)).ToList();
        Assert.Equal(11, copied.Count);
        foreach (var (hash, path) in copied)
            Assert.True(hash == Sha256(Fixtures.File(path)), $"tests/fixtures/{path} differs from the fixture pack's file");
    }

    [SkippableFact]
    public void The_fixture_pack_matches_the_manifest()
    {
        Fixtures.Model("tiny-qwen2");
        foreach (var (hash, path) in Manifest)
            Assert.True(hash == Sha256(Path.Combine(Fixtures.SharedRoot, path)),
                $"../shared/fixtures/{path} changed: copy it into tests/fixtures and update SHA256SUMS");
    }

    private static string Sha256(string path) => Convert.ToHexStringLower(SHA256.HashData(File.ReadAllBytes(path)));
}
