using QwenTune.Hub;

namespace QwenTune.Cli;

/// <summary>
/// Hub downloads on stderr: a live bar per file (bytes, MB/s) on a terminal, the library's log lines otherwise.
/// </summary>
internal sealed class ConsoleDownloadProgress : IProgress<HubTransfer>
{
    private readonly IProgress<HubTransfer>? _lines;
    private readonly System.Diagnostics.Stopwatch _clock = new();
    private string? _file;
    private long _lastDrawn = -1;

    private ConsoleDownloadProgress(bool live) => _lines = live ? null : new HubTransferLog(Console.Error);

    public static IProgress<HubTransfer> Create() =>
        new ConsoleDownloadProgress(!Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") is not (null or "dumb"));

    public void Report(HubTransfer value)
    {
        if (_lines is not null)
        {
            _lines.Report(value);
            return;
        }
        if (value.File != _file)
        {
            (_file, _lastDrawn) = (value.File, -1);
            _clock.Restart();
        }
        var now = _clock.ElapsedMilliseconds;
        if (!value.Done && _lastDrawn >= 0 && now - _lastDrawn < 200)
            return;
        _lastDrawn = now;
        const int width = 24;
        var fraction = value.Total is > 0 ? Math.Min(1.0, (double)value.Received / value.Total.Value) : 0;
        var filled = (int)(fraction * width);
        var rate = _clock.Elapsed.TotalSeconds > 0 ? value.Received / 1e6 / _clock.Elapsed.TotalSeconds : 0;
        var total = value.Total is { } size ? $"/{size / 1e6:N1}" : "";
        Console.Error.Write($"\r{value.File} [{new string('#', filled)}{new string('.', width - filled)}] {value.Received / 1e6:N1}{total} MB {rate:N1} MB/s   ");
        if (value.Done)
            Console.Error.WriteLine();
    }
}
