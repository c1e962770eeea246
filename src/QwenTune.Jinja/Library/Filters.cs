using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Library;

/// <summary>
/// The filters of jinja2/filters.py that chat templates use, with Jinja's parameter names and defaults,
/// and Hugging Face's <c>tojson</c> (json.dumps, not Jinja's HTML-safe one).
/// Lazy Jinja results (map, select, reverse of a list) are materialised as lists.
/// </summary>
internal static partial class Filters
{
    private static readonly Signature Variadic = new() { ExtraPositional = true, ExtraNamed = true };

    private static readonly Dictionary<string, FilterDefinition> Table = Build();

    public static bool TryGet(string name, out FilterDefinition filter) => Table.TryGetValue(name, out filter!);

    private static Dictionary<string, FilterDefinition> Build()
    {
        var table = new Dictionary<string, FilterDefinition>(StringComparer.Ordinal);
        void Add(string name, Signature signature, Func<RenderContext, object?, BoundArguments, object?> invoke)
        {
            table[name] = new FilterDefinition(name, signature, invoke);
        }
        void Alias(string alias, string name) => table[alias] = table[name] with { Name = alias };
        var none = new Signature();

        Add("length", none, (_, v, _) => (long)Py.Length(v));
        Alias("count", "length");
        Add("string", none, (_, v, _) => Py.Str(v));
        Add("safe", none, (_, v, _) => v);
        Add("upper", none, (_, v, _) => Py.Str(v).ToUpperInvariant());
        Add("lower", none, (_, v, _) => Py.Str(v).ToLowerInvariant());
        Add("capitalize", none, (_, v, _) => PyString.Capitalize(Py.Str(v)));
        Add("title", none, (_, v, _) => JinjaTitle(Py.Str(v)));
        Add("trim", new Signature("chars"), (_, v, a) => PyString.Strip(Py.Str(v), a.GetString(0), left: true, right: true));
        Add("replace", new Signature("old", "new", "count") { Required = 2 }, (_, v, a) =>
            PyString.Replace(Py.Str(v), Py.Str(a.Required(0)), Py.Str(a.Required(1)), a.Get(2) is null ? -1 : a.GetInteger(2, -1)));
        Add("wordcount", none, (_, v, _) => (long)WordPattern().Count(Py.Str(v)));
        Add("escape", none, (_, v, _) => Escape(v));
        Alias("e", "escape");
        Add("indent", new Signature("width", "first", "blank"), (_, v, a) => Indent(v, a.Get(0, 4L), a.GetBool(1, false), a.GetBool(2, false)));
        Add("format", Variadic, (_, v, a) =>
            PyFormat.Percent(Py.Str(v), a.ExtraNamed.Count > 0 ? a.ExtraNamed.ToDictionary(p => p.Key, p => p.Value) : a.Extra));

        Add("default", new Signature("default_value", "boolean"), (_, v, a) =>
            v is Undefined || (a.GetBool(1, false) && !Py.IsTruthy(v)) ? a.Get(0, "") : v);
        Alias("d", "default");

        Add("first", none, (_, v, _) => Py.Iterate(v) is { Count: > 0 } items ? items[0] : Undefined.WithHint("No first item, sequence was empty."));
        Add("last", none, (_, v, _) => Py.Iterate(v) is { Count: > 0 } items ? items[^1] : Undefined.WithHint("No last item, sequence was empty."));
        Add("list", none, (_, v, _) => new List<object?>(Py.Iterate(v)));
        Add("reverse", none, (_, v, _) => v is string s ? Py.Slice(s, new PySlice(null, null, -1L)) : Py.Iterate(v).Reverse().ToList());
        Add("items", none, (_, v, _) => v switch
        {
            Undefined => new List<object?>(),
            Dictionary<string, object?> d => Methods.Items(d),
            _ => throw new JinjaError("Can only get item pairs from a mapping."),
        });
        Add("join", new Signature("d", "attribute"), (_, v, a) => Join(v, Py.Str(a.Get(0, "")), a.Get(1)));
        Add("tojson", new Signature("ensure_ascii", "indent", "separators", "sort_keys"), (_, v, a) =>
            JsonDump.Dumps(v, a.GetBool(0, false), a.Get(1), a.Get(2), a.GetBool(3, false)));

        Add("int", new Signature("default", "base"), (_, v, a) => ToInteger(v, a.Get(0, 0L), a.GetInteger(1, 10)));
        Add("float", new Signature("default"), (_, v, a) => ToFloat(v, a.Get(0, 0.0)));
        Add("abs", none, (_, v, _) => v switch
        {
            long l => l < 0 ? Py.Negate(l) : l,
            double d => Math.Abs(d),
            bool b => b ? 1L : 0L,
            _ => throw new JinjaError($"bad operand type for abs(): '{Py.TypeName(v)}'"),
        });
        Add("round", new Signature("precision", "method"), (_, v, a) => Round(v, a.GetInteger(0, 0), a.GetString(1, "common")!));
        Add("sum", new Signature("attribute", "start"), (_, v, a) =>
            Py.Iterate(v).Select(AttributeGetter(a.Get(0))).Aggregate(a.Get(1, 0L), Py.Add));
        Add("min", new Signature("case_sensitive", "attribute"), (_, v, a) => Extreme(v, a, wantMax: false));
        Add("max", new Signature("case_sensitive", "attribute"), (_, v, a) => Extreme(v, a, wantMax: true));
        Add("sort", new Signature("reverse", "case_sensitive", "attribute"), (_, v, a) =>
            Sort(Py.Iterate(v), SortKey(a.Get(2), a.GetBool(1, false)), a.GetBool(0, false)));
        Add("dictsort", new Signature("case_sensitive", "by", "reverse"), (_, v, a) => DictSort(v, a));
        Add("unique", new Signature("case_sensitive", "attribute"), (_, v, a) => Unique(v, SortKey(a.Get(1), a.GetBool(0, false))));

        Add("map", Variadic, Map);
        Add("select", Variadic, (_, v, a) => Select(v, a, byAttribute: false, keep: true));
        Add("reject", Variadic, (_, v, a) => Select(v, a, byAttribute: false, keep: false));
        Add("selectattr", Variadic, (_, v, a) => Select(v, a, byAttribute: true, keep: true));
        Add("rejectattr", Variadic, (_, v, a) => Select(v, a, byAttribute: true, keep: false));
        return table;
    }

    [GeneratedRegex(@"\w+")]
    private static partial Regex WordPattern();

    [GeneratedRegex(@"([-\s({\[<]+)")]
    private static partial Regex WordBeginning();

    /// <summary>Jinja's <c>title</c> filter (not str.title): capitalise after '-', whitespace and opening brackets.</summary>
    private static string JinjaTitle(string text) =>
        string.Concat(WordBeginning().Split(text).Where(part => part.Length > 0)
            .Select(part => char.ToUpperInvariant(part[0]) + part[1..].ToLowerInvariant()));

    /// <summary>markupsafe.escape: the five HTML-special characters, nothing else.</summary>
    private static string Escape(object? value) =>
        Py.Str(value).Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&#34;").Replace("'", "&#39;");

    /// <summary>jinja2 do_indent: indent every line but the first (unless first=True); blank lines only if blank=True.</summary>
    private static string Indent(object? value, object? width, bool first, bool blank)
    {
        // do_indent appends "\n" to its input without converting it, so only strings work.
        var text = value switch
        {
            string input => input,
            Undefined u => throw u.Fail(),
            _ => throw new JinjaError($"unsupported operand type(s) for +=: '{Py.TypeName(value)}' and 'str'"),
        };
        var indentation = width is string s ? s : new string(' ', (int)Math.Max(0, Py.AsInteger(width)));
        var lines = PyString.SplitLines(text + "\n", keepEnds: false).Cast<string>().ToList();
        string result;
        if (blank)
        {
            result = string.Join("\n" + indentation, lines);
        }
        else
        {
            result = lines[0];
            if (lines.Count > 1)
                result += "\n" + string.Join("\n", lines.Skip(1).Select(line => line.Length > 0 ? indentation + line : line));
        }
        return first ? indentation + result : result;
    }

    private static string Join(object? value, string separator, object? attribute)
    {
        var builder = new StringBuilder();
        var get = AttributeGetter(attribute);
        var items = Py.Iterate(value);
        for (var i = 0; i < items.Count; i++)
        {
            if (i > 0)
                builder.Append(separator);
            builder.Append(Py.Str(get(items[i])));
        }
        return builder.ToString();
    }

    /// <summary>jinja2 do_int: int(value), else int(float(value)), else the default.</summary>
    private static object? ToInteger(object? value, object? fallback, long numberBase)
    {
        switch (value)
        {
            case Undefined undefined:
                throw undefined.Fail(); // Undefined.__int__ fails in Jinja
            case long or bool:
                return Py.AsInteger(value);
            case double d:
                return double.IsFinite(d) ? (long)Math.Truncate(d) : throw new JinjaError("cannot convert float infinity or NaN to integer");
            case string s:
                var text = s.Trim().Replace("_", "");
                if (numberBase == 10 && long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var parsed))
                    return parsed;
                if (numberBase != 10)
                {
                    try
                    {
                        var digits = text.StartsWith("0x", StringComparison.OrdinalIgnoreCase) || text.StartsWith("0o", StringComparison.OrdinalIgnoreCase)
                            || text.StartsWith("0b", StringComparison.OrdinalIgnoreCase) ? text[2..] : text;
                        return Convert.ToInt64(digits, (int)numberBase);
                    }
                    catch (Exception e) when (e is FormatException or ArgumentException or OverflowException)
                    {
                        return fallback;
                    }
                }
                return TryParseFloat(text, out var f) && double.IsFinite(f) ? (long)Math.Truncate(f) : fallback;
            default:
                return fallback;
        }
    }

    private static object? ToFloat(object? value, object? fallback) => value switch
    {
        Undefined undefined => throw undefined.Fail(),
        double d => d,
        long or bool => Py.AsDouble(value),
        string s when TryParseFloat(s.Trim().Replace("_", ""), out var f) => f,
        _ => fallback,
    };

    private static bool TryParseFloat(string text, out double value)
    {
        var lower = text.ToLowerInvariant().TrimStart('+');
        (var negative, lower) = lower.StartsWith('-') ? (true, lower[1..]) : (false, lower);
        value = lower switch
        {
            "inf" or "infinity" => double.PositiveInfinity,
            "nan" => double.NaN,
            _ => double.NaN,
        };
        if (lower is "inf" or "infinity" or "nan")
        {
            value = negative ? -value : value;
            return true;
        }
        return double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out value);
    }

    private static object? Round(object? value, long precision, string method)
    {
        if (!Py.IsNumber(value))
            throw new JinjaError($"type {Py.TypeName(value)} doesn't define __round__ method");
        if (method == "common")
        {
            if (Py.IsInteger(value))
                return Py.AsInteger(value);
            return Math.Round(Py.AsDouble(value), (int)Math.Clamp(precision, 0, 15), MidpointRounding.ToEven);
        }
        var scale = Math.Pow(10, precision);
        return method switch
        {
            "ceil" => Math.Ceiling(Py.AsDouble(value) * scale) / scale,
            "floor" => Math.Floor(Py.AsDouble(value) * scale) / scale,
            _ => throw new JinjaError("method must be common, ceil or floor"),
        };
    }

    /// <summary>Jinja's make_attrgetter: "a.b.0" walks items (attributes as fallback) part by part.</summary>
    private static Func<object?, object?> AttributeGetter(object? attribute, object? fallback = null)
    {
        if (attribute is null || attribute == BoundArguments.Missing)
            return item => item;
        var parts = attribute is string path
            ? path.Split('.').Select(part => long.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out var index) ? index : (object)part).ToArray()
            : [attribute];
        return item =>
        {
            foreach (var part in parts)
            {
                item = Py.GetItem(item, part);
                if (fallback is not null && item is Undefined)
                    item = fallback;
            }
            return item;
        };
    }

    private static Func<object?, object?> SortKey(object? attribute, bool caseSensitive)
    {
        var get = AttributeGetter(attribute);
        return caseSensitive ? get : item => get(item) is string s ? s.ToLowerInvariant() : get(item);
    }

    private static List<object?> Sort(IReadOnlyList<object?> items, Func<object?, object?> key, bool reverse)
    {
        var comparer = Comparer<object?>.Create((a, b) => Py.Compare("<", a, b) ? -1 : Py.Compare("<", b, a) ? 1 : 0);
        // LINQ's OrderBy is stable, like Python's sorted (also with reverse=True).
        return (reverse ? items.OrderByDescending(key, comparer) : items.OrderBy(key, comparer)).ToList();
    }

    private static object? Extreme(object? value, BoundArguments arguments, bool wantMax)
    {
        var items = Py.Iterate(value);
        if (items.Count == 0)
            return Undefined.WithHint("No aggregated item, sequence was empty.");
        var key = SortKey(arguments.Get(1), arguments.GetBool(0, false));
        var best = items[0];
        foreach (var item in items.Skip(1))
        {
            if (Py.Compare(wantMax ? ">" : "<", key(item), key(best)))
                best = item;
        }
        return best;
    }

    private static List<object?> DictSort(object? value, BoundArguments arguments)
    {
        if (value is Undefined undefined)
            throw undefined.Fail();
        if (value is not Dictionary<string, object?> dict)
            throw new JinjaError($"'{Py.TypeName(value)}' object has no attribute 'items'");
        var by = arguments.GetString(1, "key");
        var position = by switch
        {
            "key" => 0,
            "value" => 1,
            _ => throw new JinjaError("You can only sort by either 'key' or 'value'"),
        };
        var caseSensitive = arguments.GetBool(0, false);
        return Sort(Methods.Items(dict), pair =>
        {
            var part = ((object?[])pair!)[position];
            return !caseSensitive && part is string s ? s.ToLowerInvariant() : part;
        }, arguments.GetBool(2, false));
    }

    private static List<object?> Unique(object? value, Func<object?, object?> key)
    {
        var seen = new List<object?>();
        var result = new List<object?>();
        foreach (var item in Py.Iterate(value))
        {
            var k = key(item);
            if (seen.Any(s => Py.Equal(s, k)))
                continue;
            seen.Add(k);
            result.Add(item);
        }
        return result;
    }

    /// <summary><c>map(attribute='x', default=...)</c> or <c>map('filter', *args)</c>.</summary>
    private static object? Map(RenderContext context, object? value, BoundArguments arguments)
    {
        Func<object?, object?> transform;
        if (arguments.Extra.Length == 0 && arguments.ExtraNamed.Any(p => p.Key == "attribute"))
        {
            var options = arguments.ExtraNamed.ToDictionary(p => p.Key, p => p.Value);
            var attribute = options["attribute"];
            options.TryGetValue("default", out var fallback);
            if (options.Keys.Any(k => k is not ("attribute" or "default")))
                throw new JinjaError($"Unexpected keyword argument '{options.Keys.First(k => k is not ("attribute" or "default"))}'");
            transform = AttributeGetter(attribute, fallback);
        }
        else
        {
            if (arguments.Extra.Length == 0 || arguments.Extra[0] is not string name)
                throw new JinjaError("map() needs a filter name or attribute=");
            if (!TryGet(name, out var filter))
                throw new JinjaError($"No filter named '{name}'.");
            var rest = new Arguments(arguments.Extra[1..], [.. arguments.ExtraNamed.Select(p => p.Key)], [.. arguments.ExtraNamed.Select(p => p.Value)]);
            var bound = rest.Bind(name, filter.Signature);
            transform = item => filter.Invoke(context, item, bound);
        }
        return Py.IsTruthy(value) ? Py.Iterate(value).Select(transform).ToList() : new List<object?>();
    }

    /// <summary>select/reject(test, *args) and selectattr/rejectattr(attribute, test, *args); no test means truthiness.</summary>
    private static object? Select(object? value, BoundArguments arguments, bool byAttribute, bool keep)
    {
        var offset = 0;
        Func<object?, object?> transform = item => item;
        if (byAttribute)
        {
            if (arguments.Extra.Length == 0)
                throw new JinjaError("Missing parameter for attribute name");
            transform = AttributeGetter(arguments.Extra[0]);
            offset = 1;
        }
        Func<object?, bool> predicate = Py.IsTruthy;
        if (arguments.Extra.Length > offset)
        {
            if (arguments.Extra[offset] is not string name || !Tests.TryGet(name, out var test))
                throw new JinjaError($"No test named {Py.Repr(arguments.Extra[offset])}.");
            var rest = new Arguments(arguments.Extra[(offset + 1)..], [.. arguments.ExtraNamed.Select(p => p.Key)], [.. arguments.ExtraNamed.Select(p => p.Value)]);
            var bound = rest.Bind(name, test.Signature);
            predicate = item => test.Invoke(item, bound);
        }
        return Py.Iterate(value).Where(item => predicate(transform(item)) == keep).ToList();
    }
}
