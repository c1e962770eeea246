namespace QwenTune.Jinja.Runtime;

/// <summary>Arguments bound to a <see cref="Signature"/>: one slot per parameter, plus any extras.</summary>
internal sealed class BoundArguments(string callee, Signature signature, object?[] values, object?[] extra, List<KeyValuePair<string, object?>> extraNamed)
{
    /// <summary>Marks a parameter the call did not pass (distinct from an explicit None).</summary>
    public static readonly object Missing = new();

    public object?[] Extra { get; } = extra;

    public List<KeyValuePair<string, object?>> ExtraNamed { get; } = extraNamed;

    public bool Has(int index) => values[index] != Missing;

    public object? Get(int index, object? fallback = null) => Has(index) ? values[index] : fallback;

    public object? Required(int index) =>
        Has(index) ? values[index] : throw new JinjaError($"{callee}() missing required argument '{Name(index)}'");

    public string Name(int index) => signature.Parameters[index];

    public string? GetString(int index, string? fallback = null) => Get(index, fallback) switch
    {
        null => null,
        string s => s,
        Undefined => fallback,
        var other => throw new JinjaError($"{callee}() expected a string, got '{Py.TypeName(other)}'"),
    };

    public long GetInteger(int index, long fallback)
    {
        var value = Get(index, fallback);
        return Py.IsInteger(value) ? Py.AsInteger(value) : throw new JinjaError($"{callee}() expected an integer, got '{Py.TypeName(value)}'");
    }

    public bool GetBool(int index, bool fallback) => Py.IsTruthy(Get(index, fallback));
}
