namespace QwenTune.Bench;

/// <summary>A benchmark: runs once and returns a JSON-serialisable result that Program prints.</summary>
internal interface IBenchmark
{
    string Name { get; }

    string Description { get; }

    object Run(IReadOnlyList<string> args);
}
