using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Nodes;

/// <summary>An expression; evaluates to an interpreter value (see <see cref="Py"/> for the value types).</summary>
internal abstract class Expr(SourcePosition position)
{
    public SourcePosition Position { get; } = position;

    public abstract object? Evaluate(Frame frame);

    /// <summary>
    /// Called first by the expressions the parser builds as chains (<c>1 + 1 + ...</c>, <c>a.b.c</c>, <c>x|f|g</c>),
    /// which it does in loops, not by recursion, so its nesting limit does not bound them: a chain of 100,000
    /// evaluates 100,000 frames deep. Throws InsufficientExecutionStackException, which Template.Render reports,
    /// instead of overflowing the stack (which ends the process).
    /// </summary>
    protected static void GuardStack() => System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
}
