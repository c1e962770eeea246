using System.Text.RegularExpressions;

namespace QwenTune.Hub;

/// <summary>
/// One repository's folder in the Hugging Face cache, laid out as huggingface_hub lays it out (file_download.py), so
/// either tool finds what the other fetched:
/// <code>
/// models--org--name/refs/main                      the commit "main" pointed at when last resolved
/// models--org--name/blobs/&lt;etag&gt;                   file contents, named by sha256 (LFS) or git blob sha1
/// models--org--name/snapshots/&lt;commit&gt;/&lt;file&gt;     relative symlinks to ../../blobs/&lt;etag&gt;
/// .locks/models--org--name/&lt;etag&gt;.lock             held while a blob downloads
/// </code>
/// </summary>
public sealed partial class HubCache(string cacheDirectory, HubRepoId repo)
{
    public string RepoFolder { get; } = Path.Combine(cacheDirectory, repo.FolderName);

    public string SnapshotFolder(string commit) => Path.Combine(RepoFolder, "snapshots", commit);

    public string BlobPath(string etag) => Path.Combine(RepoFolder, "blobs", etag);

    public static bool IsCommitHash(string revision) => CommitPattern().IsMatch(revision);

    /// <summary>The commit <paramref name="revision"/> names: itself when it is a commit hash, else what refs/ recorded.</summary>
    public string? CommitFor(string revision)
    {
        if (IsCommitHash(revision))
            return revision;
        var reference = Path.Combine(RepoFolder, "refs", revision);
        return File.Exists(reference) ? File.ReadAllText(reference).Trim() : null;
    }

    /// <summary>The snapshot folder of <paramref name="revision"/> when the cache has one.</summary>
    public string? FindSnapshot(string revision) =>
        CommitFor(revision) is { } commit && Directory.Exists(SnapshotFolder(commit)) ? SnapshotFolder(commit) : null;

    public bool HasFile(string commit, string name) => File.Exists(Path.Combine(SnapshotFolder(commit), name));

    /// <summary>
    /// Points snapshots/&lt;commit&gt;/&lt;name&gt; at its blob (relative symlink; a copy where links are refused). The link is
    /// made under a temporary name and renamed over the old one, so a process reading the snapshot never misses the file.
    /// </summary>
    public void Link(string commit, string name, string etag)
    {
        var file = Path.Combine(SnapshotFolder(commit), name);
        var folder = Path.GetDirectoryName(file)!;
        var target = Path.GetRelativePath(folder, BlobPath(etag));
        if (new FileInfo(file).LinkTarget == target)
            return;
        Directory.CreateDirectory(folder);
        var staged = file + ".linking-" + Environment.ProcessId;
        try
        {
            File.CreateSymbolicLink(staged, target);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            File.Copy(BlobPath(etag), staged, overwrite: true);
        }
        File.Move(staged, file, overwrite: true);
    }

    /// <summary>Records the commit a branch or tag resolved to (no newline, as huggingface_hub writes it).</summary>
    public void WriteRef(string revision, string commit)
    {
        if (IsCommitHash(revision))
            return;
        var reference = Path.Combine(RepoFolder, "refs", revision);
        Directory.CreateDirectory(Path.GetDirectoryName(reference)!);
        File.WriteAllText(reference, commit);
    }

    /// <summary>
    /// Holds the blob's lock file until disposed, so ranks or tools fetching the same model at once download each blob
    /// once (.NET's FileShare.None is an flock on Unix, the same lock Python's filelock takes).
    /// </summary>
    public IDisposable LockBlob(string etag, Action onWait)
    {
        var path = Path.Combine(cacheDirectory, ".locks", repo.FolderName, etag + ".lock");
        Directory.CreateDirectory(Path.GetDirectoryName(path)!);
        var waited = false;
        while (true)
        {
            try
            {
                return new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            }
            catch (IOException)
            {
                if (!waited)
                    onWait();
                waited = true;
                Thread.Sleep(200);
            }
        }
    }

    [GeneratedRegex("^[0-9a-f]{40}$")]
    private static partial Regex CommitPattern();
}
