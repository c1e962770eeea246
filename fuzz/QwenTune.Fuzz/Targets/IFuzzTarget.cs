namespace QwenTune.Fuzz.Targets;

/// <summary>
/// One parser or loader under fuzzing. The runner writes each input to <see cref="InputFileName"/> under a work
/// folder (so the input that kills a process is on disk) and calls <see cref="Execute"/> with that path.
/// </summary>
public interface IFuzzTarget
{
    /// <summary>The name on the command line and the folder under fuzz/corpus.</summary>
    string Name { get; }

    string Description { get; }

    /// <summary>Where the input is written, relative to the work folder (a tokenizer.json must be named so).</summary>
    string InputFileName { get; }

    /// <summary>Fragments of the input language that byte mutations rarely produce (keywords, delimiters).</summary>
    IReadOnlyList<string> Dictionary { get; }

    /// <summary>Writes the fixed files the target needs beside its input (a tokenizer_config.json, say); idempotent.</summary>
    void Prepare(string workFolder);

    /// <summary>
    /// Runs the product code on the input at <paramref name="inputPath"/> (its bytes are <paramref name="input"/>).
    /// Throwing a QwenTuneException or TemplateException is the expected answer to bad input; anything else is a bug.
    /// </summary>
    void Execute(string inputPath, byte[] input);
}
