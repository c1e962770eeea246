using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Library;

/// <summary>The <c>is</c> tests of jinja2/tests.py, with Python's type checks (bool counts as a number, not an integer).</summary>
internal static class Tests
{
    private static readonly Signature NoArguments = new();
    private static readonly Signature OneArgument = new("other") { Required = 1 };

    private static readonly Dictionary<string, TestDefinition> Table = Build();

    public static bool TryGet(string name, out TestDefinition test) => Table.TryGetValue(name, out test!);

    private static Dictionary<string, TestDefinition> Build()
    {
        var table = new Dictionary<string, TestDefinition>(StringComparer.Ordinal);
        void Plain(string name, Func<object?, bool> test) =>
            table[name] = new TestDefinition(name, NoArguments, (value, _) => test(value));
        void Binary(string name, Func<object?, object?, bool> test) =>
            table[name] = new TestDefinition(name, OneArgument, (value, args) => test(value, args.Required(0)));

        Plain("defined", v => v is not Undefined);
        Plain("undefined", v => v is Undefined);
        Plain("none", v => v is null);
        Plain("string", v => v is string);
        Plain("number", Py.IsNumber);
        Plain("integer", v => v is long);
        Plain("float", v => v is double);
        Plain("boolean", v => v is bool);
        Plain("true", v => v is true);
        Plain("false", v => v is false);
        Plain("mapping", v => v is Dictionary<string, object?>);
        // Python: anything with __len__ and __getitem__, which Jinja's Undefined also has.
        Plain("sequence", v => v is string or List<object?> or object?[] or Dictionary<string, object?> or Undefined);
        Plain("iterable", v => v is string or List<object?> or object?[] or Dictionary<string, object?> or Undefined);
        // Undefined defines __call__ (which fails), so Python's callable() says yes.
        Plain("callable", v => v is Macro or BoundMethod or GlobalFunction or Undefined);
        Plain("odd", v => Py.Equal(Py.Modulo(v, 2L), 1L));
        Plain("even", v => Py.Equal(Py.Modulo(v, 2L), 0L));
        Plain("lower", v => PyString.IsCaseOnly(Py.Str(v), upper: false));
        Plain("upper", v => PyString.IsCaseOnly(Py.Str(v), upper: true));
        Plain("escaped", _ => false);
        table["divisibleby"] = new TestDefinition("divisibleby", new Signature("num") { Required = 1 }, (v, args) => Py.Equal(Py.Modulo(v, args.Required(0)), 0L));
        Binary("sameas", (a, b) => ReferenceEquals(a, b) || (a is null && b is null) || (a is bool x && b is bool y && x == y));
        Binary("in", (a, b) => Py.Contains(b, a));
        foreach (var name in new[] { "eq", "equalto", "==" })
            Binary(name, Py.Equal);
        foreach (var name in new[] { "ne", "!=" })
            Binary(name, (a, b) => !Py.Equal(a, b));
        foreach (var (names, op) in new[] { (new[] { "lt", "lessthan", "<" }, "<"), (["le", "<="], "<="), (["gt", "greaterthan", ">"], ">"), (["ge", ">="], ">=") })
        {
            foreach (var name in names)
                Binary(name, (a, b) => Py.Compare(op, a, b));
        }
        return table;
    }
}
