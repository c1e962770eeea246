using System.Diagnostics;

namespace QwenTune.Tests;

/// <summary>Runs the qwentune CLI (built alongside the tests) as a child process.</summary>
internal static class CliProcess
{
    private static string CliDll => Path.Combine(AppContext.BaseDirectory, "QwenTune.Cli.dll");

    private static string TestHostDll => Path.Combine(AppContext.BaseDirectory, "QwenTune.TestHost.dll");

    /// <summary>The test host (tests/QwenTune.TestHost): training with test doubles, in a process a test may kill.</summary>
    public static ProcessStartInfo TestHostStartInfo(IEnumerable<string> args)
    {
        var info = StartInfo(args);
        info.ArgumentList[0] = TestHostDll;
        return info;
    }

    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        info.ArgumentList.Add(CliDll);
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        info.Environment["TERM"] = "dumb";
        foreach (var (key, value) in environment ?? new Dictionary<string, string>())
            info.Environment[key] = value;
        return info;
    }

    /// <summary>Runs to completion (at most two minutes) and returns exit code, stdout and stderr.</summary>
    public static (int ExitCode, string Stdout, string Stderr) Run(params string[] args) => Run(args, null, null);

    public static (int ExitCode, string Stdout, string Stderr) Run(IEnumerable<string> args, string? stdin, IReadOnlyDictionary<string, string>? environment)
    {
        using var process = Process.Start(StartInfo(args, environment))!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (stdin is not null)
            process.StandardInput.Write(stdin);
        process.StandardInput.Close();
        if (!process.WaitForExit(TimeSpan.FromMinutes(2)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"qwentune {string.Join(" ", args)} did not finish in two minutes");
        }
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
