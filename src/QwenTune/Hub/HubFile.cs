namespace QwenTune.Hub;

/// <summary>
/// One file of a repository at a commit, from the Hub's listing (`siblings` with blobs=true): <see cref="Etag"/> names
/// its blob in the cache, the sha256 for LFS files and the git blob sha1 otherwise, as huggingface_hub names them.
/// </summary>
public sealed record HubFile(string Name, long? Size, string? Sha256, string? GitBlobId)
{
    public string? Etag => Sha256 ?? GitBlobId;
}
