using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Nodes;

/// <summary>The left side of <c>set</c> or the variables of <c>for</c>: a name, a tuple of names, or <c>ns.attr</c>.</summary>
internal abstract class AssignTarget(SourcePosition position)
{
    public SourcePosition Position { get; } = position;

    public abstract void Assign(Frame frame, object? value);
}

internal sealed class NameTarget(SourcePosition position, string name) : AssignTarget(position)
{
    public override void Assign(Frame frame, object? value) => frame.Assign(name, value);
}

/// <summary><c>a, b = value</c>: unpacks any iterable of exactly that many items, as Python does.</summary>
internal sealed class TupleTarget(SourcePosition position, IReadOnlyList<AssignTarget> targets) : AssignTarget(position)
{
    public override void Assign(Frame frame, object? value)
    {
        frame.Context.Position = Position;
        var items = Py.Iterate(value);
        if (items.Count != targets.Count)
        {
            throw new JinjaError(items.Count > targets.Count
                ? $"too many values to unpack (expected {targets.Count})"
                : $"not enough values to unpack (expected {targets.Count}, got {items.Count})");
        }
        for (var i = 0; i < targets.Count; i++)
            targets[i].Assign(frame, items[i]);
    }
}

/// <summary><c>{% set ns.attr = value %}</c>: the one way Jinja lets a value escape a loop iteration.</summary>
internal sealed class NamespaceTarget(SourcePosition position, string name, string attribute) : AssignTarget(position)
{
    public override void Assign(Frame frame, object? value)
    {
        frame.Context.Position = Position;
        if (frame.Lookup(name) is not Namespace ns)
            throw new JinjaError($"cannot assign attribute on non-namespace object '{name}'");
        ns.Attributes[attribute] = value;
    }
}
