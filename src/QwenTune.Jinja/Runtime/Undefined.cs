namespace QwenTune.Jinja.Runtime;

/// <summary>
/// Jinja2's default <c>Undefined</c>: prints as "", is falsy, iterates as empty and has length 0, but
/// fails (with Jinja's message) when used as an operand, indexed, or asked for an attribute.
/// The message is built only when needed, because templates routinely probe missing keys.
/// </summary>
internal sealed class Undefined
{
    private readonly object? _owner;
    private readonly object? _key;
    private readonly string? _hint;
    private readonly bool _hasOwner;

    private Undefined(object? owner, bool hasOwner, object? key, string? hint)
    {
        _owner = owner;
        _hasOwner = hasOwner;
        _key = key;
        _hint = hint;
    }

    public static Undefined ForName(string name) => new(null, false, name, null);

    public static Undefined ForAttribute(object? owner, string name) => new(owner, true, name, null);

    public static Undefined ForItem(object? owner, object? key) => new(owner, true, key, null);

    public static Undefined WithHint(string hint) => new(null, false, null, hint);

    public string Describe()
    {
        if (_hint is not null)
            return _hint;
        if (!_hasOwner)
            return $"{Py.Repr(_key)} is undefined";
        var owner = _owner is null ? "None" : $"{Py.TypeName(_owner)} object";
        return _key is string name
            ? $"'{owner}' has no attribute {Py.Repr(name)}"
            : $"{owner} has no element {Py.Repr(_key)}";
    }

    public JinjaError Fail() => new(Describe());
}
