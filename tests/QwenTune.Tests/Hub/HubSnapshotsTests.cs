using System.Security.Cryptography;
using QwenTune.Hub;
using QwenTune.Runtime;

namespace QwenTune.Tests.Hub;

/// <summary>Hub ids resolved through the Hugging Face cache, against a local stand-in for the Hub.</summary>
public sealed class HubSnapshotsTests
{
    private static readonly FakeHub.RepoFile[] ModelRepo =
    [
        FakeHub.Text("config.json", "{\"model_type\": \"qwen2\"}"),
        FakeHub.Text("generation_config.json", "{\"eos_token_id\": 2}"),
        FakeHub.Text("tokenizer.json", "{\"model\": {}}"),
        FakeHub.Text("tokenizer_config.json", "{}"),
        FakeHub.Text("README.md", "# not needed"),
        FakeHub.Text("model.safetensors.index.json", "{\"weight_map\": {}}"),
        FakeHub.Lfs("model-00001-of-00002.safetensors", 300_000, seed: 1),
        FakeHub.Lfs("model-00002-of-00002.safetensors", 200_000, seed: 2),
        FakeHub.Lfs("pytorch_model.bin", 1000, seed: 3),
        FakeHub.Text("onnx/config.json", "{}"),
    ];

    private static HubSettings Settings(FakeHub hub, TempFolder cache, string? token = null, bool offline = false) =>
        new() { CacheDirectory = cache.Path, Endpoint = hub.Endpoint, Token = token, Offline = offline };

    private static HubClient QuickClient(HubSettings settings) => new(settings) { RetryDelay = TimeSpan.Zero, ReadTimeout = TimeSpan.FromSeconds(10) };

    private static string Resolve(HubSettings settings, string id, string revision = "main", StringWriter? log = null) =>
        ModelLocation.Resolve(id, revision, cacheDirectory: null, log ?? new StringWriter(), settings: settings);

    [Fact]
    public void Fetches_the_model_files_into_huggingface_hubs_cache_layout()
    {
        using var hub = new FakeHub();
        using var cache = new TempFolder();
        var commit = hub.AddRepo("test-org/tiny-model", ModelRepo);

        var snapshot = Resolve(Settings(hub, cache), "test-org/tiny-model");

        var repoFolder = Path.Combine(cache.Path, "models--test-org--tiny-model");
        Assert.Equal(Path.Combine(repoFolder, "snapshots", commit), snapshot);
        Assert.Equal(commit, File.ReadAllText(Path.Combine(repoFolder, "refs", "main")));
        string[] wanted = ["config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json", "model.safetensors.index.json",
            "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"];
        Assert.Equal(wanted.Order(StringComparer.Ordinal), Directory.EnumerateFileSystemEntries(snapshot).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        foreach (var file in ModelRepo.Where(f => wanted.Contains(f.Name)))
        {
            // A relative symlink to the blob named by sha256 (LFS) or git blob id, computed here independently.
            var blobName = file.Lfs ? Convert.ToHexStringLower(SHA256.HashData(file.Bytes)) : file.GitBlobId;
            Assert.Equal($"../../blobs/{blobName}", new FileInfo(Path.Combine(snapshot, file.Name)).LinkTarget);
            Assert.Equal(file.Bytes, File.ReadAllBytes(Path.Combine(repoFolder, "blobs", blobName)));
        }
        Assert.DoesNotContain(hub.Requests, r => r.Path.Contains("README.md") || r.Path.Contains("pytorch_model.bin") || r.Path.Contains("onnx"));
        Assert.Empty(Directory.EnumerateFiles(Path.Combine(repoFolder, "blobs"), "*.incomplete"));
    }

    [Fact]
    public void Git_blob_ids_match_git_hash_object()
    {
        // `printf 'hello\n' | git hash-object --stdin` and the empty blob, as git itself names them.
        Assert.Equal("ce013625030ba8dba906f756967f9e9ca394464a", FakeHub.Text("a", "hello\n").GitBlobId);
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("hello"), "hello\n");
        File.WriteAllText(folder.File("empty"), "");
        Assert.Equal("ce013625030ba8dba906f756967f9e9ca394464a", HubClient.GitBlobIdOf(folder.File("hello")));
        Assert.Equal("e69de29bb2d1d6434b8b29ae775ad8c2e48c5391", HubClient.GitBlobIdOf(folder.File("empty")));
    }

    [Fact]
    public void A_second_resolve_fetches_nothing_and_offline_makes_no_request()
    {
        using var hub = new FakeHub();
        using var cache = new TempFolder();
        hub.AddRepo("test-org/tiny-model", ModelRepo);
        var first = Resolve(Settings(hub, cache), "test-org/tiny-model");
        var requestsAfterFirst = hub.Requests.Count;

        var second = Resolve(Settings(hub, cache), "test-org/tiny-model");
        Assert.Equal(first, second);
        Assert.Equal(requestsAfterFirst + 1, hub.Requests.Count);   // the revision listing alone
        Assert.Contains("/api/models/", hub.Requests.Last().Path);

        var offline = Resolve(Settings(hub, cache, offline: true), "test-org/tiny-model");
        Assert.Equal(first, offline);
        Assert.Equal(requestsAfterFirst + 1, hub.Requests.Count);
    }

    [Fact]
    public void Offline_finds_a_cache_laid_out_by_huggingface_cli()
    {
        // What `huggingface-cli download Qwen/Qwen2.5-0.5B-Instruct` leaves, built by hand: refs/main, blobs, relative links.
        using var cache = new TempFolder();
        const string commit = "7ae557604adf67be50417f59c2c2f167def9a775";
        var repoFolder = Path.Combine(cache.Path, "models--Qwen--Qwen2.5-0.5B-Instruct");
        Directory.CreateDirectory(Path.Combine(repoFolder, "refs"));
        Directory.CreateDirectory(Path.Combine(repoFolder, "blobs"));
        Directory.CreateDirectory(Path.Combine(repoFolder, "snapshots", commit));
        File.WriteAllText(Path.Combine(repoFolder, "refs", "main"), commit);
        foreach (var (name, blob) in new[] { ("config.json", "a1b2"), ("tokenizer.json", "c3d4") })
        {
            File.WriteAllText(Path.Combine(repoFolder, "blobs", blob), name);
            File.CreateSymbolicLink(Path.Combine(repoFolder, "snapshots", commit, name), $"../../blobs/{blob}");
        }
        var settings = new HubSettings { CacheDirectory = cache.Path, Endpoint = "http://127.0.0.1:9", Offline = true };

        var snapshot = Resolve(settings, "Qwen/Qwen2.5-0.5B-Instruct");

        Assert.Equal(Path.Combine(repoFolder, "snapshots", commit), snapshot);
        Assert.Equal("config.json", File.ReadAllText(Path.Combine(snapshot, "config.json")));
        Assert.Equal(snapshot, Resolve(settings, "Qwen/Qwen2.5-0.5B-Instruct", revision: commit));
    }

    [Fact]
    public void Offline_and_absent_says_what_to_do()
    {
        using var cache = new TempFolder();
        var settings = new HubSettings { CacheDirectory = cache.Path, Offline = true };
        var error = Assert.Throws<QwenTuneException>(() => Resolve(settings, "Qwen/Qwen2.5-0.5B-Instruct"));
        Assert.Contains("HF_HUB_OFFLINE=1", error.Message);
        Assert.Contains("huggingface-cli download Qwen/Qwen2.5-0.5B-Instruct", error.Message);
        Assert.Contains(Path.Combine(cache.Path, "models--Qwen--Qwen2.5-0.5B-Instruct"), error.Message);
    }

    [Fact]
    public void A_dropped_connection_resumes_with_a_range_request()
    {
        using var hub = new FakeHub();
        using var cache = new TempFolder();
        hub.AddRepo("test-org/tiny-model", ModelRepo);
        hub.DropAfter["model-00001-of-00002.safetensors"] = 120_000;
        var settings = Settings(hub, cache);

        var snapshot = HubSnapshots.Resolve(new HubRepoId("test-org/tiny-model"), "main", settings, ModelLocation.IsModelFile,
            ["config.json"], new StringWriter(), handler: null);

        var shard = ModelRepo.Single(f => f.Name == "model-00001-of-00002.safetensors");
        Assert.Equal(shard.Bytes, File.ReadAllBytes(Path.Combine(snapshot, shard.Name)));
        var cdnRanges = hub.Requests.Where(r => r.Server == "cdn" && r.Path.Contains(shard.Sha256)).Select(r => r.Range).ToList();
        Assert.Equal(2, cdnRanges.Count);
        Assert.Null(cdnRanges[0]);
        // The second request continues from the bytes that arrived: all 120,000 sent unless the reset lost some in flight.
        var resumedFrom = long.Parse(cdnRanges[1]!["bytes=".Length..^1]);
        Assert.InRange(resumedFrom, 1, 120_000);
        Assert.Equal($"bytes={resumedFrom}-", cdnRanges[1]);
    }

    [Fact]
    public void A_partial_file_left_by_an_earlier_run_is_continued()
    {
        using var hub = new FakeHub();
        using var cache = new TempFolder();
        hub.AddRepo("test-org/tiny-model", ModelRepo);
        var shard = ModelRepo.Single(f => f.Name == "model-00002-of-00002.safetensors");
        var blobs = Path.Combine(cache.Path, "models--test-org--tiny-model", "blobs");
        Directory.CreateDirectory(blobs);
        File.WriteAllBytes(Path.Combine(blobs, shard.Sha256 + ".incomplete"), shard.Bytes[..77_777]);

        var snapshot = Resolve(Settings(hub, cache), "test-org/tiny-model");

        Assert.Equal(shard.Bytes, File.ReadAllBytes(Path.Combine(snapshot, shard.Name)));
        Assert.Equal(["bytes=77777-"], hub.Requests.Where(r => r.Server == "cdn" && r.Path.Contains(shard.Sha256)).Select(r => r.Range));
    }

    [Fact]
    public void A_sha256_mismatch_is_an_error_and_leaves_nothing_behind()
    {
        using var hub = new FakeHub();
        using var cache = new TempFolder();
        hub.AddRepo("test-org/tiny-model", ModelRepo);
        hub.Corrupt["model-00001-of-00002.safetensors"] = true;
        var shard = ModelRepo.Single(f => f.Name == "model-00001-of-00002.safetensors");

        var error = Assert.Throws<QwenTuneException>(() => Resolve(Settings(hub, cache), "test-org/tiny-model"));

        Assert.Contains("sha256", error.Message);
        Assert.Contains(shard.Sha256, error.Message);
        Assert.Contains("run again", error.Message);
        var blobs = Path.Combine(cache.Path, "models--test-org--tiny-model", "blobs");
        Assert.False(File.Exists(Path.Combine(blobs, shard.Sha256)));
        Assert.False(File.Exists(Path.Combine(blobs, shard.Sha256 + ".incomplete")));
    }

    [Fact]
    public void A_corrupt_regular_file_fails_its_git_blob_id()
    {
        using var hub = new FakeHub();
        using var cache = new TempFolder();
        hub.AddRepo("test-org/tiny-model", ModelRepo);
        hub.Corrupt["config.json"] = true;
        var error = Assert.Throws<QwenTuneException>(() => Resolve(Settings(hub, cache), "test-org/tiny-model"));
        Assert.Contains("git blob id", error.Message);
    }

    [Fact]
    public void Gated_models_ask_for_HF_TOKEN_and_the_token_never_reaches_the_CDN()
    {
        using var hub = new FakeHub { AcceptedToken = "hf_right" };
        using var cache = new TempFolder();
        hub.AddRepo("meta-org/gated", ModelRepo, gated: true);

        var anonymous = Assert.Throws<QwenTuneException>(() => Resolve(Settings(hub, cache), "meta-org/gated"));
        Assert.Contains("gated", anonymous.Message);
        Assert.Contains("set HF_TOKEN", anonymous.Message);
        Assert.Contains($"{hub.Endpoint}/meta-org/gated", anonymous.Message);

        var wrongToken = Assert.Throws<QwenTuneException>(() => Resolve(Settings(hub, cache, token: "hf_wrong"), "meta-org/gated"));
        Assert.Contains("(403)", wrongToken.Message);
        Assert.Contains("accept its terms", wrongToken.Message);

        Resolve(Settings(hub, cache, token: "hf_right"), "meta-org/gated");
        Assert.All(hub.Requests.Where(r => r.Server == "hub").Skip(2), r => Assert.Equal("Bearer hf_right", r.Authorization));
        Assert.All(hub.Requests.Where(r => r.Server == "cdn"), r => Assert.Null(r.Authorization));
        Assert.Contains(hub.Requests, r => r.Server == "cdn");
    }

    [Fact]
    public void Missing_models_and_revisions_are_named()
    {
        using var hub = new FakeHub();
        using var cache = new TempFolder();
        hub.AddRepo("test-org/tiny-model", ModelRepo);

        var missing = Assert.Throws<QwenTuneException>(() => Resolve(Settings(hub, cache, token: "hf_any"), "test-org/no-such-model"));
        Assert.Contains("test-org/no-such-model is not a model on", missing.Message);
        Assert.Contains("(404)", missing.Message);
        Assert.Contains("not a local folder", missing.Message);

        var revision = Assert.Throws<QwenTuneException>(() => Resolve(Settings(hub, cache), "test-org/tiny-model", revision: "v9"));
        Assert.Contains("no revision 'v9'", revision.Message);
        Assert.Contains("--model_revision", revision.Message);
    }

    [Fact]
    public void A_tag_writes_its_ref_and_a_commit_hash_writes_none()
    {
        using var hub = new FakeHub();
        using var cache = new TempFolder();
        var commit = hub.AddRepo("test-org/tiny-model", ModelRepo, gated: false, "v1.0");
        var refs = Path.Combine(cache.Path, "models--test-org--tiny-model", "refs");

        Resolve(Settings(hub, cache), "test-org/tiny-model", revision: commit);
        Assert.False(Directory.Exists(refs));
        Resolve(Settings(hub, cache), "test-org/tiny-model", revision: "v1.0");
        Assert.Equal(commit, File.ReadAllText(Path.Combine(refs, "v1.0")));
    }

    [Fact]
    public void An_unreachable_hub_falls_back_to_the_cache_or_says_both_failed()
    {
        using var hub = new FakeHub();
        using var cache = new TempFolder();
        hub.AddRepo("test-org/tiny-model", ModelRepo);
        var snapshot = Resolve(Settings(hub, cache), "test-org/tiny-model");
        // Port 9 (discard) on loopback: nothing listens, the connection is refused at once.
        var unreachable = new HubSettings { CacheDirectory = cache.Path, Endpoint = "http://127.0.0.1:9" };

        var log = new StringWriter();
        Assert.Equal(snapshot, Resolve(unreachable, "test-org/tiny-model", log: log));
        Assert.Contains("cannot be reached", log.ToString());
        Assert.Contains("from the cache", log.ToString());

        var error = Assert.Throws<QwenTuneException>(() => Resolve(unreachable, "test-org/other-model"));
        Assert.Contains("cannot be reached", error.Message);
        Assert.Contains("not in the Hugging Face cache", error.Message);
    }

    [Fact]
    public void Tokenizer_only_resolution_leaves_the_weights_on_the_hub()
    {
        using var hub = new FakeHub();
        using var cache = new TempFolder();
        hub.AddRepo("test-org/tiny-model", ModelRepo);
        var snapshot = ModelLocation.Resolve("test-org/tiny-model", "main", null, new StringWriter(), tokenizerOnly: true, settings: Settings(hub, cache));
        Assert.Equal(["tokenizer.json", "tokenizer_config.json"], Directory.EnumerateFileSystemEntries(snapshot).Select(Path.GetFileName).Order(StringComparer.Ordinal));
        Assert.DoesNotContain(hub.Requests, r => r.Server == "cdn");
    }

    [Fact]
    public void Local_folders_win_and_paths_are_not_taken_for_hub_ids()
    {
        using var folder = new TempFolder();
        Assert.Equal(folder.Path, ModelLocation.Resolve(folder.Path, "main", null, new StringWriter()));
        var error = Assert.Throws<QwenTuneException>(() => ModelLocation.Resolve("/no/such/model", "main", null, new StringWriter()));
        Assert.Contains("no such folder", error.Message);
        Assert.Throws<QwenTuneException>(() => ModelLocation.Resolve("./model", "main", null, new StringWriter()));
    }
}
