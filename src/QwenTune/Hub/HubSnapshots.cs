namespace QwenTune.Hub;

/// <summary>
/// A repository revision as a local folder, the way huggingface_hub's snapshot_download makes one: offline, the cached
/// snapshot; online, the revision's commit from the Hub, each wanted file fetched unless its blob is cached already.
/// </summary>
public static class HubSnapshots
{
    /// <param name="wanted">Which of the revision's files to fetch (by name).</param>
    /// <param name="required">Files the folder must hold, or the revision is not usable (e.g. config.json).</param>
    /// <returns>snapshots/&lt;commit&gt; in the cache.</returns>
    public static string Resolve(HubRepoId repo, string revision, HubSettings settings, Func<string, bool> wanted,
        IReadOnlyList<string> required, TextWriter log, IProgress<HubTransfer>? progress = null, HttpMessageHandler? handler = null)
    {
        var cache = new HubCache(settings.CacheDirectory, repo);
        if (settings.Offline)
        {
            var snapshot = cache.FindSnapshot(revision) ?? throw new QwenTuneException(
                $"{repo} (revision {revision}) is not in the Hugging Face cache ({cache.RepoFolder}), and HF_HUB_OFFLINE=1 forbids downloading it. " +
                $"Fetch it where there is network (huggingface-cli download {repo} --revision {revision}) into that cache, or unset HF_HUB_OFFLINE.");
            RequireFiles(snapshot, required, repo, revision, "HF_HUB_OFFLINE=1: unset it to download the rest.");
            return snapshot;
        }
        using var client = new HubClient(settings, handler);
        HubRevision listing;
        try
        {
            listing = client.GetRevision(repo, revision);
        }
        catch (HubUnreachableException error) when (cache.FindSnapshot(revision) is { } cached)
        {
            // huggingface_hub falls back to the cache the same way when the Hub cannot be reached.
            log.WriteLine($"{error.Message} Using {repo} from the cache: {cached}");
            RequireFiles(cached, required, repo, revision, "connect to the Hub to download the rest.");
            return cached;
        }
        catch (HubUnreachableException error)
        {
            throw new QwenTuneException(
                $"{error.Message} {repo} is not in the Hugging Face cache ({cache.RepoFolder}) either: connect, set HF_ENDPOINT to a reachable " +
                $"mirror, or fetch it elsewhere (huggingface-cli download {repo}) into that cache.", error);
        }
        var files = listing.Files.Where(f => wanted(f.Name)).ToList();
        var missing = required.Where(name => files.All(f => f.Name != name)).ToList();
        if (missing.Count > 0)
            throw new QwenTuneException($"{repo} at {revision} ({listing.Commit}) has no {string.Join(", ", missing)}: is it a Hugging Face transformers model?");
        var toFetch = files.Where(f => !cache.HasFile(listing.Commit, f.Name)).ToList();
        if (toFetch.Count > 0)
        {
            log.WriteLine($"Fetching {repo} ({revision} = {listing.Commit[..Math.Min(12, listing.Commit.Length)]}) into {cache.RepoFolder}: " +
                          $"{toFetch.Count} of {files.Count} files, {toFetch.Sum(f => f.Size ?? 0) / 1e6:N1} MB");
        }
        foreach (var file in toFetch)
            Fetch(client, cache, repo, listing.Commit, file, log, progress);
        cache.WriteRef(revision, listing.Commit);
        return cache.SnapshotFolder(listing.Commit);
    }

    private static void Fetch(HubClient client, HubCache cache, HubRepoId repo, string commit, HubFile file, TextWriter log, IProgress<HubTransfer>? progress)
    {
        // Without an id from the listing the blob's name is only known after the download: stage it under the file's name.
        var key = file.Etag ?? $"{commit}.{file.Name.Replace('/', '_')}";
        using var held = cache.LockBlob(key, () => log.WriteLine($"Waiting for another process downloading {file.Name} of {repo}..."));
        if (file.Etag is { } known && File.Exists(cache.BlobPath(known)))
        {
            cache.Link(commit, file.Name, known);
            return;
        }
        Directory.CreateDirectory(Path.GetDirectoryName(cache.BlobPath(key))!);
        var partial = cache.BlobPath(key) + ".incomplete";
        var downloaded = client.Download(repo, commit, file, partial, progress);
        var etag = downloaded.Etag ?? HubClient.GitBlobIdOf(partial);
        File.Move(partial, cache.BlobPath(etag), overwrite: true);
        cache.Link(commit, file.Name, etag);
    }

    private static void RequireFiles(string snapshot, IReadOnlyList<string> required, HubRepoId repo, string revision, string advice)
    {
        var missing = required.Where(name => !File.Exists(Path.Combine(snapshot, name))).ToList();
        if (missing.Count > 0)
            throw new QwenTuneException($"{repo} (revision {revision}) is cached in {snapshot} without {string.Join(", ", missing)}; {advice}");
    }
}
