namespace QwenTune.Fuzz;

/// <summary>What one execution did: accepted or rejected the input cleanly, or a finding (crash, slow, allocation).</summary>
/// <param name="Elapsed">CPU time of the process during the execution.</param>
public sealed record FuzzOutcome(FuzzOutcomeKind Kind, Exception? Exception, TimeSpan Elapsed, long AllocatedBytes)
{
    public bool IsFinding => Kind is FuzzOutcomeKind.Crash or FuzzOutcomeKind.Slow or FuzzOutcomeKind.Allocation;

    /// <summary>Groups findings of one bug: the exception type and the innermost frame of ours, or the kind.</summary>
    public string Signature => Kind switch
    {
        FuzzOutcomeKind.Crash => $"{Exception!.GetType().Name} at {InnermostFrame(Exception)}",
        FuzzOutcomeKind.Slow => "slow",
        FuzzOutcomeKind.Allocation => "allocation",
        _ => Kind.ToString(),
    };

    public string Describe() => Kind switch
    {
        FuzzOutcomeKind.Crash => Exception!.ToString(),
        FuzzOutcomeKind.Slow => $"took {Elapsed.TotalSeconds:F1} s of CPU (budget {FuzzExecution.SlowBudget.TotalSeconds} s)",
        FuzzOutcomeKind.Allocation => $"allocated {AllocatedBytes / (1 << 20)} MB (budget {FuzzExecution.AllocationBudget / (1 << 20)} MB)",
        _ => Kind.ToString(),
    };

    private static string InnermostFrame(Exception exception)
    {
        var frames = new System.Diagnostics.StackTrace(exception, fNeedFileInfo: false).GetFrames();
        var ours = frames.FirstOrDefault(f => f.GetMethod()?.DeclaringType?.Namespace?.StartsWith("QwenTune", StringComparison.Ordinal) == true)
                   ?? frames.FirstOrDefault();
        var method = ours?.GetMethod();
        return method is null ? "?" : $"{method.DeclaringType?.Name}.{method.Name}";
    }
}

public enum FuzzOutcomeKind
{
    /// <summary>The input was accepted.</summary>
    Accepted,

    /// <summary>The input was refused with our error type (the right answer to bad input).</summary>
    Rejected,

    /// <summary>Any other exception.</summary>
    Crash,

    /// <summary>Finished, but past <see cref="FuzzExecution.SlowBudget"/>.</summary>
    Slow,

    /// <summary>Finished, but allocated past <see cref="FuzzExecution.AllocationBudget"/>.</summary>
    Allocation,
}
