namespace QwenTune.Data;

/// <summary>The valid conversations of a data file, and the problems of the records left out.</summary>
public sealed record ChatDataset(IReadOnlyList<ChatSample> Samples, IReadOnlyList<string> SkippedProblems)
{
    /// <summary>Records left out (one record may have several problems).</summary>
    public int SkippedRecords { get; init; } = SkippedProblems.Count;
}
