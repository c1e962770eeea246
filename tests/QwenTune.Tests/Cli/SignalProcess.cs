using System.Diagnostics;

namespace QwenTune.Tests.Cli;

/// <summary>A training process a test signals: its stderr read line by line, its stdout collected.</summary>
internal sealed class SignalProcess : IDisposable
{
    private readonly Process _process;
    private readonly Task<string> _stdout;
    private readonly System.Text.StringBuilder _stderr = new();

    public SignalProcess(ProcessStartInfo info)
    {
        _process = Process.Start(info)!;
        _stdout = _process.StandardOutput.ReadToEndAsync();
        if (info.RedirectStandardInput)
            _process.StandardInput.Close();
    }

    public int Id => _process.Id;

    public string Stderr => _stderr.ToString();

    public string Stdout => _stdout.Result;

    /// <summary>Reads stderr until a line holds <paramref name="marker"/>.</summary>
    public void WaitForStderr(string marker)
    {
        while (_process.StandardError.ReadLine() is { } line)
        {
            _stderr.AppendLine(line);
            if (line.Contains(marker, StringComparison.Ordinal))
                return;
        }
        throw new InvalidOperationException($"the process ended before printing '{marker}':\n{_stderr}");
    }

    /// <summary>Sends a real signal (TERM, INT) with kill(1).</summary>
    public void Signal(string name) => Send(_process.Id, name);

    public static void Send(int pid, string name)
    {
        using var kill = Process.Start("kill", ["-" + name, pid.ToString(System.Globalization.CultureInfo.InvariantCulture)])!;
        kill.WaitForExit();
        Assert.Equal(0, kill.ExitCode);
    }

    /// <summary>Waits (at most four minutes) for the exit; returns its code with the rest of stderr read.</summary>
    public int WaitForExit()
    {
        var rest = _process.StandardError.ReadToEndAsync();
        if (!_process.WaitForExit(TimeSpan.FromMinutes(4)))
        {
            _process.Kill(entireProcessTree: true);
            throw new TimeoutException($"the process did not exit in four minutes:\n{_stderr}");
        }
        _process.WaitForExit();
        _stderr.Append(rest.Result);
        return _process.ExitCode;
    }

    public void Dispose()
    {
        if (!_process.HasExited)
            _process.Kill(entireProcessTree: true);
        _process.Dispose();
    }
}
