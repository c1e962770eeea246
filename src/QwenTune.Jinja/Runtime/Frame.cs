namespace QwenTune.Jinja.Runtime;

/// <summary>
/// One scope of variables. Jinja gives each for-loop iteration and each macro call a fresh scope over its
/// parent; <c>if</c> blocks share their parent's. Lookups walk outward; assignments stay local, which is why
/// templates carry state out of loops with <c>namespace()</c>.
/// </summary>
internal sealed class Frame(RenderContext context, Frame? parent, Dictionary<string, object?>? variables = null)
{
    private Dictionary<string, object?>? _variables = variables;

    public RenderContext Context { get; } = context;

    public Frame? Parent { get; } = parent;

    public bool TryLookup(string name, out object? value)
    {
        for (var frame = this; frame is not null; frame = frame.Parent)
        {
            if (frame._variables is not null && frame._variables.TryGetValue(name, out value))
                return true;
        }
        value = null;
        return false;
    }

    public object? Lookup(string name) => TryLookup(name, out var value) ? value : Undefined.ForName(name);

    public void Assign(string name, object? value) => (_variables ??= new Dictionary<string, object?>(StringComparer.Ordinal))[name] = value;

    public void Clear() => _variables?.Clear();
}
