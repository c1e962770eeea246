namespace QwenTune.Jinja.Runtime;

/// <summary>The <c>loop</c> variable of a <c>{% for %}</c> (jinja2.runtime.LoopContext).</summary>
internal sealed class LoopContext
{
    private readonly IReadOnlyList<object?> _items;
    private object? _lastChangedValue = Missing;

    private static readonly object Missing = new();

    public LoopContext(IReadOnlyList<object?> items) => _items = items;

    public int Index0 { get; set; }

    public int Length => _items.Count;

    public object? GetAttribute(string name) => name switch
    {
        "index0" => (long)Index0,
        "index" => (long)Index0 + 1,
        "revindex0" => (long)(Length - Index0 - 1),
        "revindex" => (long)(Length - Index0),
        "first" => Index0 == 0,
        "last" => Index0 == Length - 1,
        "length" => (long)Length,
        // Depth only grows in recursive loops, which are not supported.
        "depth0" => 0L,
        "depth" => 1L,
        "previtem" => Index0 > 0 ? _items[Index0 - 1] : Undefined.WithHint("there is no previous item"),
        "nextitem" => Index0 + 1 < Length ? _items[Index0 + 1] : Undefined.WithHint("there is no next item"),
        "cycle" or "changed" => new BoundMethod(this, name),
        _ => Undefined.ForAttribute(this, name),
    };

    /// <summary><c>loop.cycle(a, b, ...)</c>: the argument at index0 modulo their count.</summary>
    public object? Cycle(IReadOnlyList<object?> values)
    {
        if (values.Count == 0)
            throw new JinjaError("no items for cycling given");
        return values[Index0 % values.Count];
    }

    /// <summary><c>loop.changed(*values)</c>: true on the first call and whenever the values differ from the last call's.</summary>
    public bool Changed(object?[] values)
    {
        var current = (object?)values;
        if (_lastChangedValue != Missing && Py.Equal(_lastChangedValue, current))
            return false;
        _lastChangedValue = current;
        return true;
    }
}
