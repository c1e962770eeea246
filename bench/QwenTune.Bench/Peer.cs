using System.Diagnostics;
using System.Text.Json;

namespace QwenTune.Bench;

/// <summary>
/// The PyTorch-eager peers in bench/peers (<c>torch_eager_step.py</c>: a whole HF-style training step;
/// <c>torch_eager_parts.py</c>: the loss head or AdamW alone), run from a benchmark so that both sides are measured
/// on the same machine in the same minutes. They need Debian's python3-torch (and an optimised BLAS such as
/// libopenblas0-pthread; with the reference BLAS a step takes minutes). Where the machine exports OPENBLAS_CORETYPE or
/// OPENBLAS_L2_SIZE the peer also runs with both unset and the faster run is reported, as the peers' README asks.
/// </summary>
internal static class Peer
{
    private const string Python = "/usr/bin/python3";
    private static readonly string[] OpenBlasOverrides = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"];
    private static string? s_absent;
    private static bool s_checked;

    /// <summary>
    /// The peer script's JSON, or an object saying why there is none (python3-torch absent, the run failed or ran past
    /// <paramref name="timeoutSeconds"/>). <paramref name="faster"/> picks the better of two runs' JSON.
    /// </summary>
    public static object Run(string script, IEnumerable<string> args, Func<JsonElement, double> faster, int timeoutSeconds = 900)
    {
        if (Absent() is { } why)
            return new { absent = why };
        var arguments = args.ToList();
        var runs = new List<JsonElement>();
        var failures = new List<string>();
        var variants = OpenBlasOverrides.Any(name => Environment.GetEnvironmentVariable(name) is not null) ? new[] { false, true } : [false];
        foreach (var unset in variants)
        {
            var (json, failure) = Once(script, arguments, unset, timeoutSeconds);
            if (json is { } found)
                runs.Add(found);
            else
                failures.Add(failure!);
        }
        if (runs.Count == 0)
            return new { failed = string.Join("; ", failures) };
        return runs.MaxBy(faster);
    }

    /// <summary>A number from a peer's JSON, or null when the peer did not run (absent, failed or skipped).</summary>
    public static double? Field(object? peer, string name) =>
        peer is JsonElement json && json.TryGetProperty(name, out var value) ? value.GetDouble() : null;

    /// <summary>torch_eager_step.py's flags for a model of <paramref name="config"/>'s shape.</summary>
    public static string[] ModelArguments(QwenTune.Models.QwenConfig config) =>
    [
        "--hidden", $"{config.HiddenSize}", "--layers", $"{config.NumHiddenLayers}", "--heads", $"{config.NumAttentionHeads}",
        "--kv", $"{config.NumKeyValueHeads}", "--inter", $"{config.IntermediateSize}", "--vocab", $"{config.VocabSize}",
    ];

    private static (JsonElement? Json, string? Failure) Once(string script, List<string> args, bool unsetOpenBlas, int timeoutSeconds)
    {
        var start = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(Path.Combine(RepositoryPaths.Root, "bench", "peers", script));
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        if (unsetOpenBlas)
        {
            foreach (var name in OpenBlasOverrides)
                start.Environment.Remove(name);
        }
        using var child = Process.Start(start)!;
        var error = child.StandardError.ReadToEndAsync();
        var output = child.StandardOutput.ReadToEndAsync();
        if (!child.WaitForExit(timeoutSeconds * 1000))
        {
            child.Kill(entireProcessTree: true);
            return (null, $"{script} ran past {timeoutSeconds} s");
        }
        var line = output.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault();
        if (child.ExitCode != 0 || line is null)
            return (null, $"{script} exited with {child.ExitCode}: {error.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries).LastOrDefault()}");
        var json = JsonDocument.Parse(line).RootElement.Clone();
        return (unsetOpenBlas ? WithNote(json) : json, null);
    }

    private static JsonElement WithNote(JsonElement json)
    {
        var fields = json.EnumerateObject().ToDictionary(p => p.Name, p => (object)p.Value);
        fields["openblas_overrides_unset"] = true;
        return JsonSerializer.SerializeToElement(fields);
    }

    /// <summary>Why the peers cannot run here, or null when python3 imports torch.</summary>
    private static string? Absent()
    {
        if (s_checked)
            return s_absent;
        s_checked = true;
        if (!File.Exists(Python))
            return s_absent = "no /usr/bin/python3 (apt-get install python3-torch)";
        var check = new ProcessStartInfo(Python, ["-c", "import torch"]) { RedirectStandardError = true, UseShellExecute = false };
        using var probe = Process.Start(check)!;
        probe.StandardError.ReadToEnd();
        probe.WaitForExit();
        return s_absent = probe.ExitCode == 0 ? null : "python3-torch is not installed (apt-get install python3-torch libopenblas0-pthread)";
    }
}
