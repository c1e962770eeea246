using System.Diagnostics;

namespace QwenTune.Tests;

/// <summary>
/// Runs the repository's finetune.sh in bash with a time limit. The launch variables of whatever runs the tests (a
/// Slurm allocation, an outer mpirun) are cleared first, so a run depends only on what the test sets.
/// </summary>
internal static class FinetuneScript
{
    public static (int ExitCode, string Stdout, string Stderr) Run(IEnumerable<string> args, IReadOnlyDictionary<string, string> environment,
        TimeSpan timeout, string? workingDirectory = null)
    {
        var info = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Fixtures.RepositoryRoot,
        };
        info.ArgumentList.Add(Path.Combine(Fixtures.RepositoryRoot, "finetune.sh"));
        foreach (var arg in args)
            info.ArgumentList.Add(arg);
        foreach (var name in info.Environment.Keys.ToList())
        {
            if (name is "GPUS_PER_NODE" or "NNODES" or "NODE_RANK" or "MASTER_ADDR" or "MASTER_PORT" or "HOSTFILE" or "FINETUNE_DRY_RUN"
                    or "OMP_NUM_THREADS" or "CUDA_VISIBLE_DEVICES"
                || name.StartsWith("SLURM_", StringComparison.Ordinal) || name.StartsWith("OMPI_", StringComparison.Ordinal)
                || name.StartsWith("PMIX_", StringComparison.Ordinal))
                info.Environment.Remove(name);
        }
        info.Environment["TERM"] = "dumb";
        foreach (var (name, value) in environment)
            info.Environment[name] = value;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"finetune.sh {string.Join(" ", args)} did not finish in {timeout.TotalSeconds:0} s");
        }
        process.WaitForExit();
        return (process.ExitCode, stdout.Result, stderr.Result);
    }
}
