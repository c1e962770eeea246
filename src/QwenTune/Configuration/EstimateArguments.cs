namespace QwenTune.Configuration;

/// <summary>`estimate`'s own flags, beside the `train` flags it reads.</summary>
[OptionGroup("Estimate arguments")]
public sealed record EstimateArguments
{
    [Option("world_size", "Ranks the run will have (default: the launcher's, mpirun or srun, else 1).")]
    public int? WorldSize { get; init; }

    [Option("json", "Print the estimate as one JSON object instead of a table.")]
    public bool Json { get; init; }
}
