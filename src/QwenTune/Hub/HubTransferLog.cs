namespace QwenTune.Hub;

/// <summary>Download progress as log lines: one when a file starts, then every tenth of it, and one when it is done.</summary>
public sealed class HubTransferLog(TextWriter log) : IProgress<HubTransfer>
{
    private string? _file;
    private int _lastTenth;
    private readonly System.Diagnostics.Stopwatch _clock = new();

    public void Report(HubTransfer value)
    {
        if (value.File != _file)
        {
            (_file, _lastTenth) = (value.File, -1);
            _clock.Restart();
        }
        var tenth = value.Total is > 0 ? (int)(10 * value.Received / value.Total.Value) : 0;
        if (!value.Done && tenth <= _lastTenth)
            return;
        _lastTenth = tenth;
        var size = value.Total is { } total ? $" of {total / 1e6:N1} MB" : "";
        var rate = _clock.Elapsed.TotalSeconds > 0.5 ? $", {value.Received / 1e6 / _clock.Elapsed.TotalSeconds:N1} MB/s" : "";
        log.WriteLine(value.Done
            ? $"  {value.File}: done ({value.Received / 1e6:N1} MB{rate})"
            : $"  {value.File}: {10 * tenth}%{size}{rate}");
    }
}
