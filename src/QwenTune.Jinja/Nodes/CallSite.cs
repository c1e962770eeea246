using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Nodes;

/// <summary>The argument expressions of a call, filter or test: positional ones, then <c>name=value</c> ones.</summary>
internal sealed class CallSite(IReadOnlyList<Expr> positional, IReadOnlyList<string> names, IReadOnlyList<Expr> namedValues)
{
    public static readonly CallSite Empty = new([], [], []);

    public IReadOnlyList<Expr> Positional { get; } = positional;

    public IReadOnlyList<string> Names { get; } = names;

    public IReadOnlyList<Expr> NamedValues { get; } = namedValues;

    public Arguments Evaluate(Frame frame)
    {
        if (Positional.Count == 0 && Names.Count == 0)
            return Arguments.None;
        var positional = new object?[Positional.Count];
        for (var i = 0; i < positional.Length; i++)
            positional[i] = Positional[i].Evaluate(frame);
        var named = new object?[NamedValues.Count];
        for (var i = 0; i < named.Length; i++)
            named[i] = NamedValues[i].Evaluate(frame);
        return new Arguments(positional, [.. Names], named);
    }
}
