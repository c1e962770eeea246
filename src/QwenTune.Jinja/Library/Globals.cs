using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Library;

/// <summary>
/// Global functions: Jinja's <c>range</c>, <c>dict</c>, <c>namespace</c>, and the two Hugging Face adds
/// (<c>raise_exception</c>, <c>strftime_now</c>). Any other called name must be a macro of the template.
/// </summary>
internal static class Globals
{
    // ImmutableSandboxedEnvironment refuses ranges longer than this (jinja2.sandbox.MAX_RANGE).
    private const long MaxRange = 100_000;

    private static readonly Dictionary<string, GlobalFunction> Table = new(StringComparer.Ordinal)
    {
        ["range"] = new("range", new Signature { ExtraPositional = true }, (_, a) => Range(a.Extra)),
        ["dict"] = new("dict", new Signature { ExtraPositional = true, ExtraNamed = true }, (_, a) => MakeDict("dict", a)),
        ["namespace"] = new("namespace", new Signature { ExtraPositional = true, ExtraNamed = true }, (_, a) => new Namespace(MakeDict("namespace", a))),
        ["raise_exception"] = new("raise_exception", new Signature("message") { Required = 1 }, (context, a) =>
            throw new RaisedException(context.TemplateName, context.Position, Py.Str(a.Required(0)))),
        ["strftime_now"] = new("strftime_now", new Signature("format") { Required = 1 }, (context, a) =>
            Strftime.Format(context.Now, a.Required(0) as string ?? throw new JinjaError("strftime_now() format must be a string"))),
    };

    public static bool TryGet(string name, out GlobalFunction function) => Table.TryGetValue(name, out function!);

    private static List<object?> Range(object?[] arguments)
    {
        if (arguments.Length is 0 or > 3)
            throw new JinjaError($"range expected 1 to 3 arguments, got {arguments.Length}");
        var values = arguments.Select(Py.AsInteger).ToArray();
        var (start, stop, step) = values.Length switch
        {
            1 => (0L, values[0], 1L),
            2 => (values[0], values[1], 1L),
            _ => (values[0], values[1], values[2]),
        };
        if (step == 0)
            throw new JinjaError("range() arg 3 must not be zero");
        var count = step > 0 ? (stop > start ? (stop - start + step - 1) / step : 0) : (start > stop ? (start - stop - step - 1) / -step : 0);
        if (count > MaxRange)
            throw new JinjaError($"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRange}).");
        var result = new List<object?>((int)count);
        for (var i = 0L; i < count; i++)
            result.Add(start + i * step);
        return result;
    }

    /// <summary>Python's <c>dict(mapping_or_pairs, **kwargs)</c>, used by both dict() and namespace().</summary>
    private static Dictionary<string, object?> MakeDict(string callee, BoundArguments arguments)
    {
        if (arguments.Extra.Length > 1)
            throw new JinjaError($"{callee} expected at most 1 positional argument, got {arguments.Extra.Length}");
        var result = new Dictionary<string, object?>(StringComparer.Ordinal);
        if (arguments.Extra.Length == 1)
        {
            switch (arguments.Extra[0])
            {
                case Dictionary<string, object?> source:
                    foreach (var (key, value) in source)
                        result[key] = value;
                    break;
                case var pairs:
                    foreach (var pair in Py.Iterate(pairs))
                    {
                        var items = Py.Iterate(pair);
                        if (items.Count != 2 || items[0] is not string key)
                            throw new JinjaError($"{callee}() needs (str, value) pairs");
                        result[key] = items[1];
                    }
                    break;
            }
        }
        foreach (var (key, value) in arguments.ExtraNamed)
            result[key] = value;
        return result;
    }
}
