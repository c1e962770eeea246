using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Nodes;

/// <summary>An expression; evaluates to an interpreter value (see <see cref="Py"/> for the value types).</summary>
internal abstract class Expr(SourcePosition position)
{
    public SourcePosition Position { get; } = position;

    public abstract object? Evaluate(Frame frame);

    /// <summary>
    /// Entered first by the expressions the parser builds as chains (<c>1 + 1 + ...</c>, <c>a.b.c</c>, <c>x|f|g</c>),
    /// which it does in loops, not by recursion, so its nesting limit does not bound them: a chain of 100,000
    /// evaluates 100,000 frames deep. Past <see cref="RenderContext.MaxExpressionDepth"/> (the same on every machine),
    /// or when the thread's stack runs short first, it throws InsufficientExecutionStackException, which
    /// Template.Render reports, instead of overflowing the stack (which ends the process).
    /// </summary>
    protected static ExpressionDepth Enter(Frame frame)
    {
        System.Runtime.CompilerServices.RuntimeHelpers.EnsureSufficientExecutionStack();
        return new ExpressionDepth(frame.Context);
    }
}

/// <summary>One level of expression evaluation, counted on the render while it lasts.</summary>
internal readonly ref struct ExpressionDepth
{
    private readonly RenderContext _context;

    public ExpressionDepth(RenderContext context)
    {
        if (context.ExpressionDepth >= RenderContext.MaxExpressionDepth)
            throw new InsufficientExecutionStackException();
        _context = context;
        _context.ExpressionDepth++;
    }

    public void Dispose() => _context.ExpressionDepth--;
}
