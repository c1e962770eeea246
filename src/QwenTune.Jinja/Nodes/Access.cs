using QwenTune.Jinja.Library;
using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Nodes;

/// <summary>A variable; when no scope defines it, a global function (so <c>strftime_now is defined</c> holds, as in HF).</summary>
internal sealed class NameExpr(SourcePosition position, string name) : Expr(position)
{
    public string Name { get; } = name;

    public override object? Evaluate(Frame frame)
    {
        if (frame.TryLookup(Name, out var value))
            return value;
        return Globals.TryGet(Name, out var function) ? function : Undefined.ForName(Name);
    }
}

/// <summary><c>target.name</c>.</summary>
internal sealed class AttributeExpr(SourcePosition position, Expr target, string name) : Expr(position)
{
    public Expr Target { get; } = target;

    public string Name { get; } = name;

    public override object? Evaluate(Frame frame)
    {
        using var depth = Enter(frame);
        var target = Target.Evaluate(frame);
        frame.Context.Position = Position;
        return Py.GetAttribute(target, Name);
    }
}

/// <summary><c>target[key]</c>, including slices.</summary>
internal sealed class ItemExpr(SourcePosition position, Expr target, Expr key) : Expr(position)
{
    public override object? Evaluate(Frame frame)
    {
        using var depth = Enter(frame);
        var container = target.Evaluate(frame);
        var index = key.Evaluate(frame);
        frame.Context.Position = Position;
        return Py.GetItem(container, index);
    }
}

internal sealed class SliceExpr(SourcePosition position, Expr? start, Expr? stop, Expr? step) : Expr(position)
{
    public override object? Evaluate(Frame frame) =>
        new PySlice(start?.Evaluate(frame), stop?.Evaluate(frame), step?.Evaluate(frame));
}
