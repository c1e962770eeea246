using System.Diagnostics;
using System.Text.Json;

namespace QwenTune.Bench;

/// <summary>
/// Runs this benchmark executable again as a child process, so that each measurement gets its own peak RSS
/// (VmHWM) untouched by setup work or by the other measurements.
/// </summary>
internal static class ChildProcess
{
    public static JsonElement RunSelf(params string[] args)
    {
        var self = Environment.ProcessPath!;
        var start = new ProcessStartInfo(self) { RedirectStandardOutput = true, UseShellExecute = false };
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            start.ArgumentList.Add(typeof(ChildProcess).Assembly.Location);
        foreach (var arg in args)
            start.ArgumentList.Add(arg);
        using var child = Process.Start(start)!;
        var output = child.StandardOutput.ReadToEnd();
        child.WaitForExit();
        if (child.ExitCode != 0)
            throw new InvalidOperationException($"child '{string.Join(" ", args)}' exited with {child.ExitCode}: {output}");
        return JsonDocument.Parse(output).RootElement.Clone();
    }
}
