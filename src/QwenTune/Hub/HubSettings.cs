namespace QwenTune.Hub;

/// <summary>
/// Where the Hugging Face Hub is and how to reach it, read from the variables huggingface_hub reads (constants.py):
/// HF_ENDPOINT, HF_TOKEN (else the token file `huggingface-cli login` writes), HF_HUB_OFFLINE, HF_HUB_CACHE / HF_HOME.
/// </summary>
public sealed record HubSettings
{
    public const string DefaultEndpoint = "https://huggingface.co";

    /// <summary>The folder holding models--org--name folders (huggingface_hub's HF_HUB_CACHE).</summary>
    public required string CacheDirectory { get; init; }

    public string Endpoint { get; init; } = DefaultEndpoint;

    public string? Token { get; init; }

    /// <summary>HF_HUB_OFFLINE=1: only the cache is read; nothing is requested.</summary>
    public bool Offline { get; init; }

    /// <param name="cacheDirectory">--cache_dir, which wins over the environment as in from_pretrained(cache_dir=...).</param>
    /// <param name="variable">The environment (a parameter so tests need not change the process's).</param>
    public static HubSettings FromEnvironment(string? cacheDirectory = null, Func<string, string?>? variable = null)
    {
        variable ??= Environment.GetEnvironmentVariable;
        string? Get(string name) => variable(name) is { Length: > 0 } value ? value : null;
        var home = Get("HOME") ?? Environment.GetFolderPath(Environment.SpecialFolder.UserProfile);
        var hfHome = Get("HF_HOME") ?? Path.Combine(Get("XDG_CACHE_HOME") ?? Path.Combine(home, ".cache"), "huggingface");
        var cache = cacheDirectory ?? Get("HF_HUB_CACHE") ?? Get("HUGGINGFACE_HUB_CACHE") ?? Path.Combine(hfHome, "hub");
        var tokenFile = Get("HF_TOKEN_PATH") ?? Path.Combine(hfHome, "token");
        var token = Get("HF_TOKEN") ?? Get("HUGGING_FACE_HUB_TOKEN") ?? (File.Exists(tokenFile) ? File.ReadAllText(tokenFile).Trim() : null);
        return new HubSettings
        {
            CacheDirectory = ExpandHome(cache, home),
            Endpoint = (Get("HF_ENDPOINT") ?? DefaultEndpoint).TrimEnd('/'),
            Token = token is { Length: > 0 } ? token : null,
            Offline = IsTrue(Get("HF_HUB_OFFLINE")) || IsTrue(Get("TRANSFORMERS_OFFLINE")),
        };
    }

    // huggingface_hub's _is_true: "1", "ON", "YES", "TRUE", any case.
    private static bool IsTrue(string? value) =>
        value is not null && value.ToUpperInvariant() is "1" or "ON" or "YES" or "TRUE";

    private static string ExpandHome(string path, string home) =>
        path == "~" ? home : path.StartsWith("~/", StringComparison.Ordinal) ? Path.Combine(home, path[2..]) : path;
}
