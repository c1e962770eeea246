using System.Diagnostics;
using QwenTune.Fuzz.Targets;
using QwenTune.Jinja;

namespace QwenTune.Fuzz;

/// <summary>Runs one input through a target and classifies the result; shared by the fuzzer, replay and the CI test.</summary>
public static class FuzzExecution
{
    /// <summary>
    /// An input that takes more CPU time than this is a finding (inputs are at most <see cref="Mutator.MaxLength"/>
    /// bytes). CPU time of the process, not wall time: the fuzzer runs niced on a shared machine.
    /// </summary>
    public static readonly TimeSpan SlowBudget = TimeSpan.FromSeconds(2);

    /// <summary>Managed bytes one execution may allocate (inputs are small; loaders need a few times their size).</summary>
    public const long AllocationBudget = 512L << 20;

    /// <summary>Targets run at least once in this process: a first run pays for JIT and loading fixtures, so it is never "slow".</summary>
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> Warm = new();

    public static FuzzOutcome Run(IFuzzTarget target, byte[] input, string workFolder)
    {
        var firstRun = Warm.TryAdd(target.Name, true);
        target.Prepare(workFolder);
        var inputPath = Path.Combine(workFolder, target.InputFileName);
        File.WriteAllBytes(inputPath, input);
        var allocatedBefore = GC.GetAllocatedBytesForCurrentThread();
        var cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        Exception? error = null;
        try
        {
            target.Execute(inputPath, input);
        }
        catch (Exception e)
        {
            error = e;
        }
        var elapsed = Process.GetCurrentProcess().TotalProcessorTime - cpuBefore;
        var allocated = GC.GetAllocatedBytesForCurrentThread() - allocatedBefore;
        var kind = error switch
        {
            QwenTuneException or TemplateException => FuzzOutcomeKind.Rejected,
            not null => FuzzOutcomeKind.Crash,
            _ => FuzzOutcomeKind.Accepted,
        };
        if (kind != FuzzOutcomeKind.Crash && elapsed > SlowBudget && !firstRun)
            kind = FuzzOutcomeKind.Slow;
        else if (kind != FuzzOutcomeKind.Crash && allocated > AllocationBudget)
            kind = FuzzOutcomeKind.Allocation;
        return new FuzzOutcome(kind, error, elapsed, allocated);
    }
}
