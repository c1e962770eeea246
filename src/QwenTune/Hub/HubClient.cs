using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json.Nodes;

namespace QwenTune.Hub;

/// <summary>
/// The two Hub endpoints a download needs, as huggingface_hub calls them: the revision listing
/// (GET /api/models/{id}/revision/{rev}?blobs=true) and file contents (GET /{id}/resolve/{commit}/{file}, which
/// redirects LFS files to a CDN). Partial files resume with Range; every finished file is checked against its hash.
/// </summary>
public sealed class HubClient : IDisposable
{
    private readonly HttpClient _http;
    private readonly HubSettings _settings;
    private readonly Uri _endpoint;

    public HubClient(HubSettings settings, HttpMessageHandler? handler = null)
    {
        _settings = settings;
        _endpoint = new Uri(settings.Endpoint.TrimEnd('/') + "/");
        // Redirects are followed by hand: the token goes to the Hub only, never to the CDN it redirects to.
        _http = new HttpClient(handler ?? new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(15) })
        {
            Timeout = Timeout.InfiniteTimeSpan,
        };
        _http.DefaultRequestHeaders.UserAgent.Add(new ProductInfoHeaderValue("qwentune", "1.0"));
    }

    /// <summary>A read that brings no byte for this long counts as a dropped connection.</summary>
    public TimeSpan ReadTimeout { get; init; } = TimeSpan.FromSeconds(60);

    /// <summary>How many times a file's download starts over (from where it stopped) after a dropped connection.</summary>
    public int Attempts { get; init; } = 5;

    public TimeSpan RetryDelay { get; init; } = TimeSpan.FromSeconds(2);

    public HubRevision GetRevision(HubRepoId repo, string revision) => GetRevisionAsync(repo, revision).GetAwaiter().GetResult();

    private async Task<HubRevision> GetRevisionAsync(HubRepoId repo, string revision)
    {
        var url = new Uri(_endpoint, $"api/models/{repo.Value}/revision/{Uri.EscapeDataString(revision)}?blobs=true");
        var (response, _) = await SendAsync(url, from: 0, "the file list of " + repo, repo, revision, timeout: TimeSpan.FromSeconds(60));
        using var owned = response;
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync()) as JsonObject
            ?? throw new QwenTuneException($"{url}: the answer is not a JSON object.");
        var commit = json["sha"]?.GetValue<string>() ?? throw new QwenTuneException($"{url}: the answer names no commit (\"sha\").");
        var files = (json["siblings"] as JsonArray ?? []).OfType<JsonObject>().Select(sibling => new HubFile(
            sibling["rfilename"]!.GetValue<string>(),
            sibling["lfs"]?["size"]?.GetValue<long>() ?? sibling["size"]?.GetValue<long>(),
            sibling["lfs"]?["sha256"]?.GetValue<string>(),
            sibling["blobId"]?.GetValue<string>())).ToList();
        return new HubRevision(commit, files);
    }

    /// <summary>
    /// Brings <paramref name="file"/> of <paramref name="commit"/> into <paramref name="partialPath"/>, continuing what is
    /// there, then checks its size and hash. Throws (and removes the partial file) when the contents do not match.
    /// </summary>
    /// <returns>The file as downloaded: the listing's entry completed from the response headers (size, hashes).</returns>
    public HubFile Download(HubRepoId repo, string commit, HubFile file, string partialPath, IProgress<HubTransfer>? progress = null) =>
        DownloadAsync(repo, commit, file, partialPath, progress).GetAwaiter().GetResult();

    private async Task<HubFile> DownloadAsync(HubRepoId repo, string commit, HubFile file, string partialPath, IProgress<HubTransfer>? progress)
    {
        var url = new Uri(_endpoint, $"{repo.Value}/resolve/{commit}/{string.Join('/', file.Name.Split('/').Select(Uri.EscapeDataString))}");
        var expected = file;
        for (var attempt = 1; ; attempt++)
        {
            var have = File.Exists(partialPath) ? new FileInfo(partialPath).Length : 0;
            try
            {
                var (response, firstHeaders) = await SendAsync(url, have, file.Name, repo, commit, ReadTimeout);
                using var owned = response;
                expected = WithHeaders(expected, firstHeaders);
                var partial = response.StatusCode == HttpStatusCode.PartialContent;
                if (partial && response.Content.Headers.ContentRange?.From != have)
                {
                    // A part that does not start where the file on disk ends: start over.
                    File.Delete(partialPath);
                    throw new IOException($"the server answered bytes {response.Content.Headers.ContentRange} to a request from byte {have}");
                }
                if (!partial)
                    have = 0;   // the server sent the whole file (it ignored Range)
                var append = partial;
                await using (var output = new FileStream(partialPath, append ? FileMode.Append : FileMode.Create, FileAccess.Write))
                await using (var body = await response.Content.ReadAsStreamAsync())
                    await CopyAsync(body, output, file.Name, have, expected.Size, progress);
                break;
            }
            catch (Exception error) when (IsDroppedConnection(error) && attempt < Attempts)
            {
                await Task.Delay(RetryDelay);
            }
            catch (Exception error) when (IsDroppedConnection(error))
            {
                throw new QwenTuneException(
                    $"{url}: the connection dropped {Attempts} times ({error.Message}); {new FileInfo(partialPath).Length:N0} bytes are kept in " +
                    $"{partialPath} and the next run continues from there.", error);
            }
        }
        Verify(partialPath, expected, url);
        progress?.Report(new HubTransfer(file.Name, new FileInfo(partialPath).Length, expected.Size, Done: true));
        return expected;
    }

    private async Task CopyAsync(Stream body, FileStream output, string name, long received, long? total, IProgress<HubTransfer>? progress)
    {
        var buffer = new byte[1 << 16];
        while (true)
        {
            using var stalled = new CancellationTokenSource(ReadTimeout);
            var read = await body.ReadAsync(buffer, stalled.Token);
            if (read == 0)
                break;
            await output.WriteAsync(buffer.AsMemory(0, read));
            received += read;
            progress?.Report(new HubTransfer(name, received, total, Done: false));
        }
        await output.FlushAsync();
        if (total is { } size && received < size)
            throw new IOException($"the body ended after {received:N0} of {size:N0} bytes");
    }

    // The resolve endpoint's first answer carries the file's identity (huggingface_hub reads the same headers):
    // X-Linked-Etag is an LFS file's sha256, ETag a regular file's git blob id, X-Linked-Size the size behind a redirect.
    private static HubFile WithHeaders(HubFile file, IReadOnlyDictionary<string, string> headers)
    {
        string? Header(string name) => headers.GetValueOrDefault(name)?.Replace("W/", "", StringComparison.Ordinal).Trim('"');
        var linkedEtag = Header("X-Linked-Etag");
        return file with
        {
            Sha256 = file.Sha256 ?? linkedEtag,
            GitBlobId = file.GitBlobId ?? (linkedEtag is null ? Header("ETag") : null),
            Size = file.Size ?? (long.TryParse(Header("X-Linked-Size"), out var size) ? size : null),
        };
    }

    private static void Verify(string path, HubFile expected, Uri url)
    {
        var length = new FileInfo(path).Length;
        string? problem = null;
        if (expected.Size is { } size && length != size)
            problem = $"it has {length:N0} bytes where the Hub lists {size:N0}";
        else if (expected.Sha256 is { } sha256 && Sha256Of(path) is var actual && !actual.Equals(sha256, StringComparison.OrdinalIgnoreCase))
            problem = $"its sha256 is {actual}, the Hub lists {sha256}";
        else if (expected.Sha256 is null && expected.GitBlobId is { Length: 40 } blobId && GitBlobIdOf(path) is var gitId
                 && !gitId.Equals(blobId, StringComparison.OrdinalIgnoreCase))
            problem = $"its git blob id is {gitId}, the Hub lists {blobId}";
        if (problem is null)
            return;
        File.Delete(path);
        throw new QwenTuneException($"{url}: the download is corrupt: {problem}. The partial file was removed; run again to download it anew.");
    }

    public static string Sha256Of(string path)
    {
        using var stream = File.OpenRead(path);
        return Convert.ToHexStringLower(SHA256.HashData(stream));
    }

    /// <summary>git's object id of a file: sha1 over "blob {size}\0" and the contents (what the Hub lists as blobId).</summary>
    public static string GitBlobIdOf(string path)
    {
        using var sha1 = IncrementalHash.CreateHash(HashAlgorithmName.SHA1);
        using var stream = File.OpenRead(path);
        sha1.AppendData(Encoding.ASCII.GetBytes($"blob {stream.Length}\0"));
        var buffer = new byte[1 << 16];
        int read;
        while ((read = stream.Read(buffer)) > 0)
            sha1.AppendData(buffer, 0, read);
        return Convert.ToHexStringLower(sha1.GetHashAndReset());
    }

    private static bool IsDroppedConnection(Exception error) =>
        error is IOException or OperationCanceledException or HttpRequestException { StatusCode: null }
        && error is not QwenTuneException && error.InnerException is not QwenTuneException;

    /// <summary>GETs <paramref name="url"/>, following redirects (the token only to the Hub), and maps errors to messages.</summary>
    private async Task<(HttpResponseMessage Response, IReadOnlyDictionary<string, string> FirstHeaders)> SendAsync(Uri url, long from, string what, HubRepoId repo, string revision, TimeSpan timeout)
    {
        var firstHeaders = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        for (var hop = 0; ; hop++)
        {
            var request = new HttpRequestMessage(HttpMethod.Get, url);
            if (_settings.Token is { } token && url.Authority == _endpoint.Authority)
                request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
            if (from > 0)
                request.Headers.Range = new RangeHeaderValue(from, null);
            HttpResponseMessage response;
            try
            {
                using var headersDue = new CancellationTokenSource(timeout);
                response = await _http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead, headersDue.Token);
            }
            catch (HttpRequestException error) when (hop == 0 && error.HttpRequestError is HttpRequestError.ConnectionError or HttpRequestError.NameResolutionError)
            {
                throw new HubUnreachableException($"{_settings.Endpoint} cannot be reached ({error.Message}).", error);
            }
            if (hop == 0)
            {
                foreach (var (name, values) in response.Headers.Concat(response.Content.Headers))
                    firstHeaders[name] = string.Join(",", values);
            }
            if ((int)response.StatusCode is 301 or 302 or 303 or 307 or 308 && response.Headers.Location is { } location && hop < 10)
            {
                url = new Uri(url, location);
                response.Dispose();
                continue;
            }
            if (response.StatusCode == HttpStatusCode.RequestedRangeNotSatisfiable && from > 0)
            {
                // The part on disk is no prefix the server knows: start over.
                response.Dispose();
                from = 0;
                continue;
            }
            if (!response.IsSuccessStatusCode)
            {
                using (response)
                    throw Failure(response, what, repo, revision);
            }
            return (response, firstHeaders);
        }
    }

    private QwenTuneException Failure(HttpResponseMessage response, string what, HubRepoId repo, string revision)
    {
        var code = response.Headers.TryGetValues("X-Error-Code", out var codes) ? codes.FirstOrDefault() : null;
        var status = (int)response.StatusCode;
        var page = $"{_settings.Endpoint}/{repo}";
        var tokenHint = _settings.Token is null
            ? "set HF_TOKEN to an access token with read permission (or run `huggingface-cli login`)"
            : "the token in HF_TOKEN was sent; check that it is valid and has read permission";
        var message = (status, code) switch
        {
            (_, "GatedRepo") or (403, _) =>
                $"{repo} is a gated model ({status}): accept its terms at {page} with your account, then {tokenHint}.",
            (_, "RevisionNotFound") => $"{repo} has no revision '{revision}' ({status}): check --model_revision (a branch, tag or commit).",
            (_, "EntryNotFound") => $"{repo} has no file {what} at {revision} ({status}).",
            (401, _) => $"{repo} was refused ({status}: private, gated, or no such model): {tokenHint}.",
            (404, _) or (_, "RepoNotFound") =>
                $"{repo} is not a model on {_settings.Endpoint} ({status}) and not a local folder: check the spelling (ids are case-sensitive) or the path.",
            _ => $"{_settings.Endpoint} answered {status} {response.ReasonPhrase} to the request for {what} of {repo}.",
        };
        return new QwenTuneException(message);
    }

    public void Dispose() => _http.Dispose();
}
