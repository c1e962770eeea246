using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Library;

/// <summary>
/// The methods templates may call on values: Python's read-only <c>str</c>, <c>dict</c> and <c>list</c>
/// methods, and <c>loop.cycle</c>/<c>loop.changed</c>. Mutating ones (<c>append</c>, <c>update</c>, ...) are
/// absent because Hugging Face renders in Jinja's ImmutableSandboxedEnvironment, which forbids them.
/// </summary>
internal static class Methods
{
    private sealed record Method(Signature Signature, Func<object, BoundArguments, object?> Invoke);

    private static readonly Dictionary<string, Method> StringMethods = BuildStringMethods();
    private static readonly Dictionary<string, Method> DictMethods = BuildDictMethods();
    private static readonly Dictionary<string, Method> ListMethods = BuildListMethods();
    private static readonly Dictionary<string, Method> LoopMethods = BuildLoopMethods();

    /// <summary>Every method name any value type has; a call to another name is rejected at parse time.</summary>
    public static bool IsKnownName(string name) =>
        StringMethods.ContainsKey(name) || DictMethods.ContainsKey(name) || ListMethods.ContainsKey(name) || LoopMethods.ContainsKey(name);

    public static bool IsMethodOf(object receiver, string name) => TableFor(receiver)?.ContainsKey(name) == true;

    public static object? Invoke(BoundMethod method, Arguments arguments)
    {
        var table = TableFor(method.Receiver);
        if (table is null || !table.TryGetValue(method.Name, out var definition))
            throw new JinjaError($"'{Py.TypeName(method.Receiver)}' object has no method '{method.Name}'");
        return definition.Invoke(method.Receiver, arguments.Bind($"{Py.TypeName(method.Receiver)}.{method.Name}", definition.Signature));
    }

    private static Dictionary<string, Method>? TableFor(object receiver) => receiver switch
    {
        string => StringMethods,
        Dictionary<string, object?> => DictMethods,
        List<object?> or object?[] => ListMethods,
        LoopContext => LoopMethods,
        _ => null,
    };

    private static Dictionary<string, Method> BuildStringMethods()
    {
        var table = new Dictionary<string, Method>(StringComparer.Ordinal);
        void Add(string name, Signature signature, Func<string, BoundArguments, object?> invoke) =>
            table[name] = new Method(signature, (receiver, args) => invoke((string)receiver, args));

        var noArguments = new Signature();
        var affix = new Signature("prefix", "start", "end") { Required = 1 };
        var split = new Signature("sep", "maxsplit");
        var chars = new Signature("chars");
        var search = new Signature("sub", "start", "end") { Required = 1 };

        Add("startswith", affix, (s, a) => PyString.StartsOrEndsWith(s, a.Required(0), a.Get(1), a.Get(2), atStart: true, "startswith"));
        Add("endswith", affix, (s, a) => PyString.StartsOrEndsWith(s, a.Required(0), a.Get(1), a.Get(2), atStart: false, "endswith"));
        Add("split", split, (s, a) => PyString.Split(s, a.GetString(0), a.GetInteger(1, -1)));
        Add("rsplit", split, (s, a) => PyString.RightSplit(s, a.GetString(0), a.GetInteger(1, -1)));
        Add("splitlines", new Signature("keepends"), (s, a) => PyString.SplitLines(s, a.GetBool(0, false)));
        Add("strip", chars, (s, a) => PyString.Strip(s, a.GetString(0), left: true, right: true));
        Add("lstrip", chars, (s, a) => PyString.Strip(s, a.GetString(0), left: true, right: false));
        Add("rstrip", chars, (s, a) => PyString.Strip(s, a.GetString(0), left: false, right: true));
        Add("replace", new Signature("old", "new", "count") { Required = 2 }, (s, a) =>
            PyString.Replace(s, RequiredString(a, 0), RequiredString(a, 1), a.GetInteger(2, -1)));
        Add("upper", noArguments, (s, _) => s.ToUpperInvariant());
        Add("lower", noArguments, (s, _) => s.ToLowerInvariant());
        Add("title", noArguments, (s, _) => PyString.Title(s));
        Add("capitalize", noArguments, (s, _) => PyString.Capitalize(s));
        Add("find", search, (s, a) => PyString.Find(s, RequiredString(a, 0), a.Get(1), a.Get(2), fromRight: false));
        Add("rfind", search, (s, a) => PyString.Find(s, RequiredString(a, 0), a.Get(1), a.Get(2), fromRight: true));
        Add("index", search, (s, a) => PyString.Find(s, RequiredString(a, 0), a.Get(1), a.Get(2), fromRight: false) is var i and >= 0
            ? i : throw new JinjaError("substring not found"));
        Add("rindex", search, (s, a) => PyString.Find(s, RequiredString(a, 0), a.Get(1), a.Get(2), fromRight: true) is var i and >= 0
            ? i : throw new JinjaError("substring not found"));
        Add("count", search, (s, a) => PyString.Count(s, RequiredString(a, 0), a.Get(1), a.Get(2)));
        Add("join", new Signature("iterable") { Required = 1 }, (s, a) => PyString.Join(s, a.Required(0)));
        Add("isdigit", noArguments, (s, _) => PyString.AllChars(s, char.IsDigit));
        Add("isnumeric", noArguments, (s, _) => PyString.AllChars(s, char.IsNumber));
        Add("isalpha", noArguments, (s, _) => PyString.AllChars(s, char.IsLetter));
        Add("isalnum", noArguments, (s, _) => PyString.AllChars(s, char.IsLetterOrDigit));
        Add("isspace", noArguments, (s, _) => PyString.AllChars(s, PyChar.IsSpace));
        Add("islower", noArguments, (s, _) => PyString.IsCaseOnly(s, upper: false));
        Add("isupper", noArguments, (s, _) => PyString.IsCaseOnly(s, upper: true));
        Add("removeprefix", new Signature("prefix") { Required = 1 }, (s, a) => RequiredString(a, 0) is var p && s.StartsWith(p, StringComparison.Ordinal) ? s[p.Length..] : s);
        Add("removesuffix", new Signature("suffix") { Required = 1 }, (s, a) => RequiredString(a, 0) is var p && p.Length > 0 && s.EndsWith(p, StringComparison.Ordinal) ? s[..^p.Length] : s);
        Add("format", new Signature { ExtraPositional = true, ExtraNamed = true }, (s, a) => PyFormat.Format(s, a.Extra, a.ExtraNamed));
        return table;
    }

    private static Dictionary<string, Method> BuildDictMethods()
    {
        var noArguments = new Signature();
        return new Dictionary<string, Method>(StringComparer.Ordinal)
        {
            ["items"] = new(noArguments, (d, _) => Items((Dictionary<string, object?>)d)),
            ["keys"] = new(noArguments, (d, _) => ((Dictionary<string, object?>)d).Keys.Select(k => (object?)k).ToList()),
            ["values"] = new(noArguments, (d, _) => ((Dictionary<string, object?>)d).Values.ToList()),
            ["get"] = new(new Signature("key", "default") { Required = 1 }, (d, a) =>
                a.Required(0) is string key && ((Dictionary<string, object?>)d).TryGetValue(key, out var value) ? value : a.Get(1)),
        };
    }

    /// <summary>dict.items() as a list of (key, value) tuples (Python prints a dict_items view; iteration is the same).</summary>
    public static List<object?> Items(Dictionary<string, object?> dict) =>
        dict.Select(entry => (object?)new object?[] { entry.Key, entry.Value }).ToList();

    private static Dictionary<string, Method> BuildListMethods()
    {
        var one = new Signature("value") { Required = 1 };
        return new Dictionary<string, Method>(StringComparer.Ordinal)
        {
            ["index"] = new(one, (l, a) =>
            {
                var items = (IReadOnlyList<object?>)l;
                for (var i = 0; i < items.Count; i++)
                {
                    if (Py.Equal(items[i], a.Required(0)))
                        return (long)i;
                }
                throw new JinjaError($"{Py.Repr(a.Required(0))} is not in list");
            }),
            ["count"] = new(one, (l, a) => (long)((IReadOnlyList<object?>)l).Count(item => Py.Equal(item, a.Required(0)))),
        };
    }

    private static Dictionary<string, Method> BuildLoopMethods()
    {
        var variadic = new Signature { ExtraPositional = true };
        return new Dictionary<string, Method>(StringComparer.Ordinal)
        {
            ["cycle"] = new(variadic, (loop, a) => ((LoopContext)loop).Cycle(a.Extra)),
            ["changed"] = new(variadic, (loop, a) => ((LoopContext)loop).Changed(a.Extra)),
        };
    }

    private static string RequiredString(BoundArguments arguments, int index) =>
        arguments.Required(index) is string s ? s : throw new JinjaError($"argument '{arguments.Name(index)}' must be str, not {Py.TypeName(arguments.Required(index))}");
}
