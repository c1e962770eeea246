using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace QwenTune.Tests.Hub;

/// <summary>
/// A stand-in for huggingface.co on 127.0.0.1, answering as the Hub does (huggingface_hub's file_download.py reads
/// the same): GET /api/models/{id}/revision/{rev} lists the commit and its files (blobId, size, lfs.sha256);
/// GET /{id}/resolve/{rev}/{file} answers regular files with their bytes and ETag (git blob id), and LFS files with a
/// 302 to a second server (the "CDN") carrying X-Linked-Etag (sha256), X-Linked-Size and X-Repo-Commit. The CDN
/// honours Range. Faults are injected per file: a connection dropped after some bytes, or corrupted contents.
/// </summary>
internal sealed class FakeHub : IDisposable
{
    private readonly HttpListener _hub;
    private readonly HttpListener _cdn;
    private readonly Dictionary<string, Repo> _repos = [];

    public FakeHub()
    {
        (_hub, Endpoint) = Listen();
        (_cdn, CdnEndpoint) = Listen();
        _ = Serve(_hub, AnswerHub);
        _ = Serve(_cdn, AnswerCdn);
    }

    public string Endpoint { get; }

    public string CdnEndpoint { get; }

    /// <summary>Every request: which server, path with query, Range and Authorization headers.</summary>
    public ConcurrentQueue<(string Server, string Path, string? Range, string? Authorization)> Requests { get; } = new();

    /// <summary>Only this token may read gated repositories.</summary>
    public string? AcceptedToken { get; set; }

    /// <summary>File name → bytes after which the next answer with its contents breaks off (each entry used once).</summary>
    public ConcurrentDictionary<string, long> DropAfter { get; } = new();

    /// <summary>Files whose served bytes differ from what the listing's hashes describe.</summary>
    public ConcurrentDictionary<string, bool> Corrupt { get; } = new();

    public sealed record RepoFile(string Name, byte[] Bytes, bool Lfs)
    {
        public string Sha256 => Convert.ToHexStringLower(SHA256.HashData(Bytes));

        public string GitBlobId => Convert.ToHexStringLower(SHA1.HashData([.. Encoding.ASCII.GetBytes($"blob {Bytes.Length}\0"), .. Bytes]));

        public string Etag => Lfs ? Sha256 : GitBlobId;
    }

    private sealed record Repo(string Id, Dictionary<string, string> Refs, Dictionary<string, List<RepoFile>> Commits, bool Gated);

    /// <summary>Adds a repository whose branch "main" (and any <paramref name="tags"/>) points at one commit holding <paramref name="files"/>.</summary>
    public string AddRepo(string id, IEnumerable<RepoFile> files, bool gated = false, params string[] tags)
    {
        var commit = Convert.ToHexStringLower(SHA1.HashData(Encoding.UTF8.GetBytes(id + _repos.Count)));
        var refs = new Dictionary<string, string> { ["main"] = commit };
        foreach (var tag in tags)
            refs[tag] = commit;
        _repos[id] = new Repo(id, refs, new() { [commit] = files.ToList() }, gated);
        return commit;
    }

    /// <summary>A regular (git) file with these UTF-8 contents.</summary>
    public static RepoFile Text(string name, string contents) => new(name, Encoding.UTF8.GetBytes(contents), Lfs: false);

    /// <summary>An LFS file of <paramref name="length"/> pseudo-random bytes.</summary>
    public static RepoFile Lfs(string name, int length, int seed = 1)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return new RepoFile(name, bytes, Lfs: true);
    }

    /// <summary>The files of a model folder as a repository (the *.safetensors as LFS files).</summary>
    public static IEnumerable<RepoFile> FolderFiles(string folder) =>
        Directory.EnumerateFiles(folder).Select(path => new RepoFile(Path.GetFileName(path), File.ReadAllBytes(path), path.EndsWith(".safetensors")));

    private static (HttpListener, string) Listen()
    {
        for (var attempt = 0; ; attempt++)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            var listener = new HttpListener();
            listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            try
            {
                listener.Start();
                return (listener, $"http://127.0.0.1:{port}");
            }
            catch (HttpListenerException) when (attempt < 10)
            {
                listener.Close();
            }
        }
    }

    private async Task Serve(HttpListener listener, Action<HttpListenerContext> answer)
    {
        while (listener.IsListening)
        {
            HttpListenerContext context;
            try
            {
                context = await listener.GetContextAsync();
            }
            catch (Exception) when (!listener.IsListening)
            {
                return;
            }
            catch (HttpListenerException)
            {
                return;
            }
            _ = Task.Run(() =>
            {
                try
                {
                    answer(context);
                }
                catch (Exception) when (!listener.IsListening)
                {
                }
                catch (HttpListenerException)
                {
                    // the client went away
                }
            });
        }
    }

    private void AnswerHub(HttpListenerContext context)
    {
        var request = context.Request;
        var path = Uri.UnescapeDataString(request.Url!.AbsolutePath);
        Requests.Enqueue(("hub", request.Url.PathAndQuery, request.Headers["Range"], request.Headers["Authorization"]));
        var response = context.Response;
        if (path.StartsWith("/api/models/", StringComparison.Ordinal))
        {
            // /api/models/{org/name}/revision/{rev}
            var rest = path["/api/models/".Length..];
            var at = rest.IndexOf("/revision/", StringComparison.Ordinal);
            var (id, revision) = (rest[..at], rest[(at + "/revision/".Length)..]);
            if (Refuse(context, id, revision) is not { } repoAndCommit)
                return;
            var (repo, commit) = repoAndCommit;
            var siblings = new JsonArray();
            foreach (var file in repo.Commits[commit])
            {
                var sibling = new JsonObject { ["rfilename"] = file.Name, ["blobId"] = file.Lfs ? "0123456789abcdef0123456789abcdef01234567" : file.GitBlobId, ["size"] = file.Lfs ? 134 : file.Bytes.Length };
                if (file.Lfs)
                    sibling["lfs"] = new JsonObject { ["sha256"] = file.Sha256, ["size"] = file.Bytes.Length, ["pointerSize"] = 134 };
                siblings.Add(sibling);
            }
            Send(response, 200, Encoding.UTF8.GetBytes(new JsonObject { ["id"] = repo.Id, ["sha"] = commit, ["siblings"] = siblings }.ToJsonString()));
            return;
        }
        // /{org/name}/resolve/{rev}/{file}
        var resolveAt = path.IndexOf("/resolve/", StringComparison.Ordinal);
        var repoId = path[1..resolveAt];
        var revisionAndFile = path[(resolveAt + "/resolve/".Length)..];
        var slash = revisionAndFile.IndexOf('/');
        var (rev, name) = (revisionAndFile[..slash], revisionAndFile[(slash + 1)..]);
        if (Refuse(context, repoId, rev) is not { } found)
            return;
        var served = found.Repo.Commits[found.Commit].FirstOrDefault(f => f.Name == name);
        if (served is null)
        {
            response.Headers["X-Error-Code"] = "EntryNotFound";
            Send(response, 404, []);
            return;
        }
        response.Headers["X-Repo-Commit"] = found.Commit;
        if (served.Lfs)
        {
            response.Headers["X-Linked-Etag"] = $"\"{served.Sha256}\"";
            response.Headers["X-Linked-Size"] = served.Bytes.Length.ToString();
            response.Headers["ETag"] = "\"0123456789abcdef0123456789abcdef01234567\"";
            response.RedirectLocation = $"{CdnEndpoint}/repos/{served.Sha256}?name={Uri.EscapeDataString(name)}";
            Send(response, 302, []);
            return;
        }
        response.Headers["ETag"] = $"\"{served.GitBlobId}\"";
        SendContents(context, served);
    }

    private void AnswerCdn(HttpListenerContext context)
    {
        var request = context.Request;
        Requests.Enqueue(("cdn", request.Url!.PathAndQuery, request.Headers["Range"], request.Headers["Authorization"]));
        var sha256 = request.Url.AbsolutePath["/repos/".Length..];
        var file = _repos.Values.SelectMany(r => r.Commits.Values).SelectMany(f => f).FirstOrDefault(f => f.Lfs && f.Sha256 == sha256);
        if (file is null)
        {
            Send(context.Response, 404, []);
            return;
        }
        SendContents(context, file);
    }

    private void SendContents(HttpListenerContext context, RepoFile file)
    {
        var bytes = Corrupt.ContainsKey(file.Name) ? file.Bytes.Select((b, i) => i == file.Bytes.Length / 2 ? (byte)(b ^ 0xFF) : b).ToArray() : file.Bytes;
        var response = context.Response;
        long from = 0;
        if (context.Request.Headers["Range"] is { } range && range.StartsWith("bytes=", StringComparison.Ordinal) && range.EndsWith('-'))
        {
            from = long.Parse(range["bytes=".Length..^1]);
            if (from >= bytes.Length)
            {
                response.Headers["Content-Range"] = $"bytes */{bytes.Length}";
                Send(response, 416, []);
                return;
            }
            response.StatusCode = 206;
            response.Headers["Content-Range"] = $"bytes {from}-{bytes.Length - 1}/{bytes.Length}";
        }
        var body = bytes.AsSpan((int)from).ToArray();
        response.ContentLength64 = body.Length;
        if (DropAfter.TryRemove(file.Name, out var dropAt) && dropAt - from is > 0 and var sent && sent < body.Length)
        {
            // Promise the whole body, send part of it, and cut the connection.
            response.OutputStream.Write(body, 0, (int)sent);
            response.OutputStream.Flush();
            response.Abort();
            return;
        }
        response.OutputStream.Write(body);
        response.Close();
    }

    /// <summary>The repository and commit, or null after answering the error the Hub would (401/403/404 with X-Error-Code).</summary>
    private (Repo Repo, string Commit)? Refuse(HttpListenerContext context, string id, string revision)
    {
        var response = context.Response;
        var authorization = context.Request.Headers["Authorization"];
        if (!_repos.TryGetValue(id, out var repo))
        {
            // Like the Hub: without a token a missing repository is indistinguishable from a private one.
            response.Headers["X-Error-Code"] = "RepoNotFound";
            Send(response, authorization is null ? 401 : 404, Encoding.UTF8.GetBytes("{\"error\":\"Repository Not Found\"}"));
            return null;
        }
        if (repo.Gated && authorization != $"Bearer {AcceptedToken}")
        {
            response.Headers["X-Error-Code"] = "GatedRepo";
            Send(response, authorization is null ? 401 : 403, Encoding.UTF8.GetBytes("{\"error\":\"Access to model is restricted\"}"));
            return null;
        }
        var commit = repo.Refs.GetValueOrDefault(revision) ?? (repo.Commits.ContainsKey(revision) ? revision : null);
        if (commit is null)
        {
            response.Headers["X-Error-Code"] = "RevisionNotFound";
            Send(response, 404, Encoding.UTF8.GetBytes("{\"error\":\"Invalid rev id\"}"));
            return null;
        }
        return (repo, commit);
    }

    private static void Send(HttpListenerResponse response, int status, byte[] body)
    {
        response.StatusCode = status;
        response.ContentLength64 = body.Length;
        response.OutputStream.Write(body);
        response.Close();
    }

    public void Dispose()
    {
        _hub.Close();
        _cdn.Close();
    }
}
