using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Nodes;

/// <summary>An expression; evaluates to an interpreter value (see <see cref="Py"/> for the value types).</summary>
internal abstract class Expr(SourcePosition position)
{
    public SourcePosition Position { get; } = position;

    public abstract object? Evaluate(Frame frame);
}
