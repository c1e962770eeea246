namespace QwenTune.Fuzz;

/// <summary>Counters of one worker, written as JSON for the supervisor.</summary>
public sealed class FuzzStats
{
    public long Executions { get; set; }

    public long Rejected { get; set; }

    public double Seconds { get; set; }

    public int Seeds { get; set; }

    public int QueueSize { get; set; }

    /// <summary>Distinct instrumented edges reached; 0 when the assemblies are not instrumented.</summary>
    public int Edges { get; set; }

    public List<FuzzFinding> Findings { get; set; } = [];
}

public sealed record FuzzFinding(string Signature, string Path);
