using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;

namespace QwenTune.IO;

/// <summary>
/// One run per output folder: <c>output_dir/.qwentune.lock</c> names the pid, host and start time of the run writing
/// there; a second run is refused with that pid. The file is created with CreateNew (atomic), removed when the run
/// ends, and a lock left by a process that is gone (SIGKILL, power loss) is recognised as stale by its pid and start
/// time on this host and replaced. A lock from another host (a shared filesystem) cannot be checked and is respected.
/// </summary>
public sealed class RunLock : IDisposable
{
    public const string FileName = ".qwentune.lock";
    private readonly string _path;
    private readonly string _content;
    private bool _released;

    private RunLock(string path, string content) => (_path, _content) = (path, content);

    /// <summary>Takes the lock of <paramref name="outputDir"/> (created if absent); <paramref name="log"/> hears of a stale one replaced.</summary>
    public static RunLock Acquire(string outputDir, TextWriter log)
    {
        Directory.CreateDirectory(outputDir);
        var path = Path.Combine(outputDir, FileName);
        var content = Describe(Process.GetCurrentProcess());
        for (var attempt = 0; ; attempt++)
        {
            try
            {
                using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
                using var writer = new StreamWriter(stream);
                writer.Write(content);
                return new RunLock(path, content);
            }
            catch (IOException) when (File.Exists(path) && attempt < 3)
            {
                var holder = ReadHolder(path);
                if (holder is null || IsAlive(holder))
                    throw Busy(outputDir, path, holder);
                log.WriteLine($"{path}: removing a stale lock of pid {holder["pid"]} (started {holder["started"]}), which is no longer running.");
                File.Delete(path);
            }
        }
    }

    private static string Describe(Process process) => new JsonObject
    {
        ["pid"] = process.Id,
        ["host"] = Environment.MachineName,
        ["started"] = process.StartTime.ToUniversalTime().ToString("o", CultureInfo.InvariantCulture),
        ["command"] = Environment.CommandLine.Length > 500 ? Environment.CommandLine[..500] : Environment.CommandLine,
    }.ToJsonString() + "\n";

    /// <summary>The lock's fields; null while its writer has not finished writing it (it is busy then too).</summary>
    private static JsonObject? ReadHolder(string path)
    {
        try
        {
            return JsonNode.Parse(File.ReadAllText(path)) as JsonObject;
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or IOException)
        {
            // Unreadable: just created by a run that has not written it yet, or garbage left by a crash a while ago.
            return File.Exists(path) && DateTime.UtcNow - File.GetLastWriteTimeUtc(path) > TimeSpan.FromSeconds(10)
                ? new JsonObject { ["pid"] = -1, ["host"] = Environment.MachineName, ["started"] = "unknown" }
                : null;
        }
    }

    /// <summary>Whether the process the lock names still runs: same pid and the same start time (pids are reused).</summary>
    private static bool IsAlive(JsonObject holder)
    {
        if ((string?)holder["host"] != Environment.MachineName)
            return true;
        var pid = (int?)holder["pid"] ?? -1;
        if (pid <= 0)
            return false;
        try
        {
            using var process = Process.GetProcessById(pid);
            if (process.HasExited)
                return false;
            var started = DateTime.Parse((string?)holder["started"] ?? "", CultureInfo.InvariantCulture, DateTimeStyles.RoundtripKind);
            return Math.Abs((process.StartTime.ToUniversalTime() - started).TotalSeconds) < 2;
        }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or FormatException or System.ComponentModel.Win32Exception)
        {
            return false;
        }
    }

    private static QwenTuneException Busy(string outputDir, string path, JsonObject? holder)
    {
        var who = holder is null
            ? "another run that is starting now"
            : $"another run: pid {holder["pid"]} on {holder["host"]}, started {holder["started"]}";
        return new QwenTuneException(
            $"output_dir '{outputDir}' is in use by {who}. Two runs in one folder would overwrite each other's checkpoints and model. " +
            $"Wait for it to finish, stop it, or choose another --output_dir (if that run is gone, delete {path}).");
    }

    /// <summary>Removes the lock file if it is still this run's.</summary>
    public void Dispose()
    {
        if (_released)
            return;
        _released = true;
        try
        {
            if (File.Exists(_path) && File.ReadAllText(_path) == _content)
                File.Delete(_path);
        }
        catch (IOException)
        {
            // The folder went away or the disk failed; a stale lock is recognised as such by the next run.
        }
    }
}
