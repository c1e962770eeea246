namespace QwenTune.Jinja;

/// <summary>A 1-based line and column (in UTF-16 code units) inside a template's source.</summary>
public readonly record struct SourcePosition(int Line, int Column)
{
    public override string ToString() => $"{Line}:{Column}";
}
