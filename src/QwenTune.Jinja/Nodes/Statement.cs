using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Nodes;

/// <summary>How a statement finished: normally, or by <c>{% break %}</c> / <c>{% continue %}</c>.</summary>
internal enum Flow
{
    Normal,
    Break,
    Continue,
}

/// <summary>A template statement; writes to <see cref="RenderContext.Output"/>.</summary>
internal abstract class Statement(SourcePosition position)
{
    public SourcePosition Position { get; } = position;

    public abstract Flow Execute(Frame frame);

    public static Flow ExecuteAll(IReadOnlyList<Statement> body, Frame frame)
    {
        // Loops run their body through here once per item, so an empty or tiny body is checked too.
        frame.Context.CheckBudget();
        foreach (var statement in body)
        {
            var flow = statement.Execute(frame);
            if (flow != Flow.Normal)
                return flow;
        }
        return Flow.Normal;
    }
}
