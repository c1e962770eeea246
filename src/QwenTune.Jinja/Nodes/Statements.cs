using System.Text;
using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Nodes;

internal sealed class TextStatement(SourcePosition position, string text) : Statement(position)
{
    public override Flow Execute(Frame frame)
    {
        frame.Context.Output.Append(text);
        return Flow.Normal;
    }
}

/// <summary><c>{{ expr }}</c>: prints <c>str(value)</c>.</summary>
internal sealed class OutputStatement(SourcePosition position, Expr value) : Statement(position)
{
    public override Flow Execute(Frame frame)
    {
        var result = value.Evaluate(frame);
        frame.Context.Output.Append(Py.Str(result));
        return Flow.Normal;
    }
}

/// <summary>A run of statements with no scope of its own (the body of <c>{% generation %}</c>).</summary>
internal sealed class SequenceStatement(SourcePosition position, IReadOnlyList<Statement> body) : Statement(position)
{
    public override Flow Execute(Frame frame) => ExecuteAll(body, frame);
}

internal sealed class IfStatement(SourcePosition position, IReadOnlyList<(Expr Test, IReadOnlyList<Statement> Body)> branches, IReadOnlyList<Statement>? otherwise)
    : Statement(position)
{
    public override Flow Execute(Frame frame)
    {
        foreach (var (test, body) in branches)
        {
            if (Py.IsTruthy(test.Evaluate(frame)))
                return ExecuteAll(body, frame);
        }
        return otherwise is null ? Flow.Normal : ExecuteAll(otherwise, frame);
    }
}

/// <summary>
/// <c>{% for target in iterable [if filter] %} ... [{% else %} ...] {% endfor %}</c>. Each iteration runs in a
/// fresh scope (Jinja2 semantics: a <c>set</c> inside the loop is gone at the next iteration and after the loop).
/// </summary>
internal sealed class ForStatement(
    SourcePosition position,
    AssignTarget target,
    Expr iterable,
    Expr? filter,
    IReadOnlyList<Statement> body,
    IReadOnlyList<Statement>? otherwise) : Statement(position)
{
    public override Flow Execute(Frame frame)
    {
        var source = iterable.Evaluate(frame);
        frame.Context.Position = Position;
        var items = Py.Iterate(source);
        var scope = new Frame(frame.Context, frame);
        if (filter is not null)
            items = ApplyFilter(items, scope);
        if (items.Count == 0)
            return otherwise is null ? Flow.Normal : ExecuteAll(otherwise, new Frame(frame.Context, frame));

        var loop = new LoopContext(items);
        for (var i = 0; i < items.Count; i++)
        {
            scope.Clear();
            loop.Index0 = i;
            target.Assign(scope, items[i]);
            scope.Assign("loop", loop);
            if (ExecuteAll(body, scope) == Flow.Break)
                break;
        }
        return Flow.Normal;
    }

    private List<object?> ApplyFilter(IReadOnlyList<object?> items, Frame scope)
    {
        var kept = new List<object?>();
        foreach (var item in items)
        {
            scope.Clear();
            target.Assign(scope, item);
            if (Py.IsTruthy(filter!.Evaluate(scope)))
                kept.Add(item);
        }
        return kept;
    }
}

internal sealed class LoopControlStatement(SourcePosition position, Flow flow) : Statement(position)
{
    public override Flow Execute(Frame frame) => flow;
}

internal sealed class SetStatement(SourcePosition position, AssignTarget target, Expr value) : Statement(position)
{
    public override Flow Execute(Frame frame)
    {
        target.Assign(frame, value.Evaluate(frame));
        return Flow.Normal;
    }
}

/// <summary><c>{% set name %}...{% endset %}</c>: captures the rendered body as a string.</summary>
internal sealed class SetBlockStatement(SourcePosition position, AssignTarget target, IReadOnlyList<Statement> body) : Statement(position)
{
    public override Flow Execute(Frame frame)
    {
        var context = frame.Context;
        var saved = context.Output;
        context.Output = new StringBuilder();
        try
        {
            ExecuteAll(body, frame);
            target.Assign(frame, context.Output.ToString());
        }
        finally
        {
            context.Output = saved;
        }
        return Flow.Normal;
    }
}

/// <summary><c>{% macro name(params) %}</c>: binds a <see cref="Macro"/> closed over the defining scope.</summary>
internal sealed class MacroStatement(SourcePosition position, MacroDefinition definition) : Statement(position)
{
    public override Flow Execute(Frame frame)
    {
        frame.Assign(definition.Name, new Macro(definition, frame));
        return Flow.Normal;
    }
}
