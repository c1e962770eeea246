namespace QwenTune.Bench;

/// <summary>
/// A benchmark: runs once and returns a JSON-serialisable result that Program prints, or null when this process has
/// nothing to print (a non-root rank of a multi-process benchmark).
/// </summary>
internal interface IBenchmark
{
    string Name { get; }

    string Description { get; }

    object? Run(IReadOnlyList<string> args);
}
