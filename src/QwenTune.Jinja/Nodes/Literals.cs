using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Nodes;

internal sealed class ConstantExpr(SourcePosition position, object? value) : Expr(position)
{
    public object? Value { get; } = value;

    public override object? Evaluate(Frame frame) => Value;
}

internal sealed class ListExpr(SourcePosition position, IReadOnlyList<Expr> items) : Expr(position)
{
    public override object? Evaluate(Frame frame)
    {
        var list = new List<object?>(items.Count);
        foreach (var item in items)
            list.Add(item.Evaluate(frame));
        return list;
    }
}

internal sealed class TupleExpr(SourcePosition position, IReadOnlyList<Expr> items) : Expr(position)
{
    public IReadOnlyList<Expr> Items { get; } = items;

    public override object? Evaluate(Frame frame)
    {
        var tuple = new object?[Items.Count];
        for (var i = 0; i < tuple.Length; i++)
            tuple[i] = Items[i].Evaluate(frame);
        return tuple;
    }
}

internal sealed class DictExpr(SourcePosition position, IReadOnlyList<(Expr Key, Expr Value)> entries) : Expr(position)
{
    public override object? Evaluate(Frame frame)
    {
        var dict = new Dictionary<string, object?>(entries.Count, StringComparer.Ordinal);
        foreach (var (keyExpr, valueExpr) in entries)
        {
            var key = keyExpr.Evaluate(frame);
            frame.Context.Position = keyExpr.Position;
            if (key is not string name)
                throw new JinjaError($"dictionary keys must be strings here, got '{Py.TypeName(key)}'");
            dict[name] = valueExpr.Evaluate(frame);
        }
        return dict;
    }
}
