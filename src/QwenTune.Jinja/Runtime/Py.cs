using System.Globalization;
using System.Text;
using QwenTune.Jinja.Library;

namespace QwenTune.Jinja.Runtime;

/// <summary>
/// Python semantics for the interpreter's values: null (None), <see cref="Undefined"/>, bool, long (int),
/// double (float), string (str), <c>List&lt;object?&gt;</c> (list), <c>object?[]</c> (tuple),
/// <c>Dictionary&lt;string, object?&gt;</c> (dict, insertion ordered), and the runtime's own objects.
/// </summary>
internal static class Py
{
    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        List<object?> => "list",
        object?[] => "tuple",
        Dictionary<string, object?> => "dict",
        Undefined => "Undefined",
        Namespace => "Namespace",
        LoopContext => "LoopContext",
        Macro => "Macro",
        BoundMethod => "builtin_function_or_method",
        GlobalFunction => "function",
        PySlice => "slice",
        _ => value.GetType().Name,
    };

    public static bool IsTruthy(object? value) => value switch
    {
        null => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> l => l.Count > 0,
        object?[] t => t.Length > 0,
        Dictionary<string, object?> d => d.Count > 0,
        Undefined => false,
        _ => true,
    };

    public static bool IsNumber(object? value) => value is long or double or bool;

    public static bool IsInteger(object? value) => value is long or bool;

    public static long AsInteger(object? value) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new JinjaError($"'{TypeName(value)}' object cannot be interpreted as an integer"),
    };

    public static double AsDouble(object? value) => value switch
    {
        double d => d,
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new JinjaError($"must be real number, not {TypeName(value)}"),
    };

    /// <summary>Python's <c>str()</c>, which is what <c>{{ value }}</c> prints (Undefined prints nothing).</summary>
    public static string Str(object? value) => value switch
    {
        string s => s,
        Undefined => "",
        null => "None",
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => PyFloat.Repr(d),
        _ => Repr(value),
    };

    /// <summary>Python's <c>repr()</c>, used for the items of printed containers.</summary>
    public static string Repr(object? value)
    {
        var builder = new StringBuilder();
        AppendRepr(builder, value);
        return builder.ToString();
    }

    // Containers being printed on this thread: a namespace can hold itself, and Python prints the cycle as {...}.
    [ThreadStatic]
    private static HashSet<object>? _printing;

    private static void AppendRepr(StringBuilder builder, object? value)
    {
        if (value is List<object?> or object?[] or Dictionary<string, object?>)
        {
            _printing ??= new HashSet<object>(ReferenceEqualityComparer.Instance);
            if (!_printing.Add(value))
            {
                builder.Append(value is Dictionary<string, object?> ? "{...}" : value is List<object?> ? "[...]" : "(...)");
                return;
            }
            try
            {
                AppendReprUnguarded(builder, value);
            }
            finally
            {
                _printing.Remove(value);
            }
            return;
        }
        AppendReprUnguarded(builder, value);
    }

    private static void AppendReprUnguarded(StringBuilder builder, object? value)
    {
        switch (value)
        {
            case string s:
                AppendStringRepr(builder, s);
                break;
            case List<object?> list:
                AppendItems(builder, '[', list, "]");
                break;
            case object?[] tuple:
                AppendItems(builder, '(', tuple, tuple.Length == 1 ? ",)" : ")");
                break;
            case Dictionary<string, object?> dict:
                AppendDictRepr(builder, dict);
                break;
            case Undefined:
                builder.Append("Undefined");
                break;
            case Namespace ns:
                builder.Append("<Namespace ");
                AppendRepr(builder, ns.Attributes);
                builder.Append('>');
                break;
            case LoopContext loop:
                builder.Append("<LoopContext ").Append(loop.Index0 + 1).Append('/').Append(loop.Length).Append('>');
                break;
            case Macro macro:
                builder.Append("<Macro ").Append(Repr(macro.Name)).Append('>');
                break;
            case GlobalFunction function:
                builder.Append("<function ").Append(function.Name).Append('>');
                break;
            case BoundMethod method:
                builder.Append("<built-in method ").Append(method.Name).Append(" of ").Append(TypeName(method.Receiver)).Append(" object>");
                break;
            case PySlice slice:
                builder.Append("slice(").Append(Repr(slice.Start)).Append(", ").Append(Repr(slice.Stop)).Append(", ").Append(Repr(slice.Step)).Append(')');
                break;
            case null or bool or long or double:
                builder.Append(Str(value));
                break;
            default:
                builder.Append('<').Append(TypeName(value)).Append(" object>");
                break;
        }
    }

    private static void AppendItems(StringBuilder builder, char open, IReadOnlyList<object?> items, string close)
    {
        builder.Append(open);
        for (var i = 0; i < items.Count; i++)
        {
            if (i > 0)
                builder.Append(", ");
            AppendRepr(builder, items[i]);
        }
        builder.Append(close);
    }

    private static void AppendDictRepr(StringBuilder builder, Dictionary<string, object?> dict)
    {
        builder.Append('{');
        var first = true;
        foreach (var (key, item) in dict)
        {
            if (!first)
                builder.Append(", ");
            first = false;
            AppendStringRepr(builder, key);
            builder.Append(": ");
            AppendRepr(builder, item);
        }
        builder.Append('}');
    }

    /// <summary>CPython's unicode_repr: single quotes unless the text has ' and no ", escapes for the unprintable.</summary>
    private static void AppendStringRepr(StringBuilder builder, string text)
    {
        var quote = text.Contains('\'') && !text.Contains('"') ? '"' : '\'';
        builder.Append(quote);
        foreach (var rune in EnumerateRunes(text))
        {
            var c = rune.Value;
            if (c == quote || c == '\\')
                builder.Append('\\').Append((char)c);
            else if (c == '\t')
                builder.Append("\\t");
            else if (c == '\n')
                builder.Append("\\n");
            else if (c == '\r')
                builder.Append("\\r");
            else if (c < 0x20 || c == 0x7F)
                builder.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            else if (c < 0x7F || IsPrintable(rune))
                AppendRune(builder, rune);
            else if (c <= 0xFF)
                builder.Append("\\x").Append(c.ToString("x2", CultureInfo.InvariantCulture));
            else if (c <= 0xFFFF)
                builder.Append("\\u").Append(c.ToString("x4", CultureInfo.InvariantCulture));
            else
                builder.Append("\\U").Append(c.ToString("x8", CultureInfo.InvariantCulture));
        }
        builder.Append(quote);
    }

    private static void AppendRune(StringBuilder builder, (int Value, bool IsLoneSurrogate) rune)
    {
        if (rune.IsLoneSurrogate || rune.Value <= 0xFFFF)
            builder.Append((char)rune.Value);
        else
            builder.Append(char.ConvertFromUtf32(rune.Value));
    }

    private static bool IsPrintable((int Value, bool IsLoneSurrogate) rune)
    {
        if (rune.IsLoneSurrogate)
            return false;
        var category = CharUnicodeInfo.GetUnicodeCategory(rune.Value);
        return category switch
        {
            UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse
                or UnicodeCategory.OtherNotAssigned or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator => false,
            UnicodeCategory.SpaceSeparator => rune.Value == ' ',
            _ => true,
        };
    }

    /// <summary>Code points of a string; unpaired surrogates come through as themselves, as in Python.</summary>
    public static IEnumerable<(int Value, bool IsLoneSurrogate)> EnumerateRunes(string text)
    {
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
            {
                yield return (char.ConvertToUtf32(c, text[i + 1]), false);
                i++;
            }
            else
            {
                yield return (c, char.IsSurrogate(c));
            }
        }
    }

    public static bool HasSurrogates(string text) => text.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0;

    /// <summary>The characters of a string as Python sees them: one string per code point.</summary>
    public static List<object?> CodePoints(string text)
    {
        var result = new List<object?>(text.Length);
        if (!HasSurrogates(text))
        {
            foreach (var c in text)
                result.Add(c.ToString());
            return result;
        }
        for (var i = 0; i < text.Length; i++)
        {
            var pair = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]);
            result.Add(text.Substring(i, pair ? 2 : 1));
            if (pair)
                i++;
        }
        return result;
    }

    public static int Length(object? value) => value switch
    {
        string s => HasSurrogates(s) ? CodePoints(s).Count : s.Length,
        List<object?> l => l.Count,
        object?[] t => t.Length,
        Dictionary<string, object?> d => d.Count,
        Undefined => 0,
        _ => throw new JinjaError($"object of type '{TypeName(value)}' has no len()"),
    };

    /// <summary>Materialises an iterable: lists and tuples as they are, dict keys, string characters; Undefined is empty.</summary>
    public static IReadOnlyList<object?> Iterate(object? value) => value switch
    {
        List<object?> l => l,
        object?[] t => t,
        Dictionary<string, object?> d => d.Keys.Select(k => (object?)k).ToList(),
        string s => CodePoints(s),
        Undefined => [],
        _ => throw new JinjaError($"'{TypeName(value)}' object is not iterable"),
    };

    public static bool Equal(object? a, object? b)
    {
        switch (a)
        {
            case null:
                return b is null;
            case string sa:
                return b is string sb && string.Equals(sa, sb, StringComparison.Ordinal);
            case long or bool or double:
                if (!IsNumber(b))
                    return false;
                if (IsInteger(a) && IsInteger(b))
                    return AsInteger(a) == AsInteger(b);
                return AsDouble(a) == AsDouble(b);
            case Undefined:
                return b is Undefined;
            case List<object?> la:
                return b is List<object?> lb && SequenceEqual(la, lb);
            case object?[] ta:
                return b is object?[] tb && SequenceEqual(ta, tb);
            case Dictionary<string, object?> da:
                if (b is not Dictionary<string, object?> db || da.Count != db.Count)
                    return false;
                foreach (var (key, item) in da)
                {
                    if (!db.TryGetValue(key, out var other) || !Equal(item, other))
                        return false;
                }
                return true;
            default:
                return ReferenceEquals(a, b) || Equals(a, b);
        }
    }

    private static bool SequenceEqual(IReadOnlyList<object?> a, IReadOnlyList<object?> b)
    {
        if (a.Count != b.Count)
            return false;
        for (var i = 0; i < a.Count; i++)
        {
            if (!ReferenceEquals(a[i], b[i]) && !Equal(a[i], b[i]))
                return false;
        }
        return true;
    }

    /// <summary>Python's rich comparison for &lt; &lt;= &gt; &gt;=; unordered types raise TypeError as in Python.</summary>
    public static bool Compare(string op, object? a, object? b)
    {
        if (a is Undefined ua)
            throw ua.Fail();
        if (b is Undefined ub)
            throw ub.Fail();
        if (IsNumber(a) && IsNumber(b))
        {
            if (IsInteger(a) && IsInteger(b))
                return Holds(op, AsInteger(a).CompareTo(AsInteger(b)));
            var x = AsDouble(a);
            var y = AsDouble(b);
            return !double.IsNaN(x) && !double.IsNaN(y) && Holds(op, x.CompareTo(y));
        }
        if (a is string sa && b is string sb)
            return Holds(op, string.CompareOrdinal(sa, sb));
        if ((a is List<object?> && b is List<object?>) || (a is object?[] && b is object?[]))
        {
            var la = (IReadOnlyList<object?>)a;
            var lb = (IReadOnlyList<object?>)b;
            for (var i = 0; i < Math.Min(la.Count, lb.Count); i++)
            {
                if (!Equal(la[i], lb[i]))
                    return Compare(op, la[i], lb[i]);
            }
            return Holds(op, la.Count.CompareTo(lb.Count));
        }
        throw new JinjaError($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    private static bool Holds(string op, int order) => op switch
    {
        "<" => order < 0,
        "<=" => order <= 0,
        ">" => order > 0,
        ">=" => order >= 0,
        _ => throw new InvalidOperationException(op),
    };

    /// <summary>Python's <c>needle in haystack</c>.</summary>
    public static bool Contains(object? haystack, object? needle)
    {
        switch (haystack)
        {
            case string s:
                if (needle is not string sub)
                    throw needle is Undefined u ? u.Fail() : new JinjaError($"'in <string>' requires string as left operand, not {TypeName(needle)}");
                return s.Contains(sub, StringComparison.Ordinal);
            case List<object?> or object?[]:
                foreach (var item in (IReadOnlyList<object?>)haystack)
                {
                    if (Equal(item, needle))
                        return true;
                }
                return false;
            case Dictionary<string, object?> d:
                return needle is string key && d.ContainsKey(key);
            case Undefined:
                return false;
            default:
                throw new JinjaError($"argument of type '{TypeName(haystack)}' is not iterable");
        }
    }

    public static object? Add(object? a, object? b)
    {
        FailIfUndefined(a, b);
        if (IsInteger(a) && IsInteger(b))
            return Checked(() => checked(AsInteger(a) + AsInteger(b)));
        if (IsNumber(a) && IsNumber(b))
            return AsDouble(a) + AsDouble(b);
        return (a, b) switch
        {
            (string x, string y) => x + y,
            (List<object?> x, List<object?> y) => new List<object?>(x.Concat(y)),
            (object?[] x, object?[] y) => x.Concat(y).ToArray(),
            (string or List<object?> or object?[], _) => throw new JinjaError($"can only concatenate {TypeName(a)} (not \"{TypeName(b)}\") to {TypeName(a)}"),
            _ => throw Unsupported("+", a, b),
        };
    }

    public static object? Subtract(object? a, object? b)
    {
        FailIfUndefined(a, b);
        if (IsInteger(a) && IsInteger(b))
            return Checked(() => checked(AsInteger(a) - AsInteger(b)));
        if (IsNumber(a) && IsNumber(b))
            return AsDouble(a) - AsDouble(b);
        throw Unsupported("-", a, b);
    }

    public static object? Multiply(object? a, object? b)
    {
        FailIfUndefined(a, b);
        if (IsInteger(a) && IsInteger(b))
            return Checked(() => checked(AsInteger(a) * AsInteger(b)));
        if (IsNumber(a) && IsNumber(b))
            return AsDouble(a) * AsDouble(b);
        if (IsInteger(b) && a is string or List<object?> or object?[])
            return Repeat(a!, AsInteger(b));
        if (IsInteger(a) && b is string or List<object?> or object?[])
            return Repeat(b!, AsInteger(a));
        throw Unsupported("*", a, b);
    }

    private const long MaxRepeatedLength = 100_000_000;

    private static object Repeat(object sequence, long times)
    {
        var length = sequence switch { string s => s.Length, List<object?> l => l.Count, _ => ((object?[])sequence).Length };
        if (times > 0 && length > 0 && times > MaxRepeatedLength / length)
            throw new JinjaError($"repetition would make a sequence of more than {MaxRepeatedLength} items");
        var count = (int)Math.Max(times, 0);
        return sequence switch
        {
            string s => string.Concat(Enumerable.Repeat(s, count)),
            List<object?> l => Enumerable.Repeat(l, count).SelectMany(x => x).ToList(),
            _ => Enumerable.Repeat((object?[])sequence, count).SelectMany(x => x).ToArray(),
        };
    }

    public static object? TrueDivide(object? a, object? b)
    {
        FailIfUndefined(a, b);
        if (!IsNumber(a) || !IsNumber(b))
            throw Unsupported("/", a, b);
        var divisor = AsDouble(b);
        if (divisor == 0)
            throw new JinjaError("division by zero");
        return AsDouble(a) / divisor;
    }

    public static object? FloorDivide(object? a, object? b)
    {
        FailIfUndefined(a, b);
        if (IsInteger(a) && IsInteger(b))
        {
            var (x, y) = (AsInteger(a), AsInteger(b));
            if (y == 0)
                throw new JinjaError("integer division or modulo by zero");
            var quotient = x / y;
            if (x % y != 0 && (x < 0) != (y < 0))
                quotient--;
            return quotient;
        }
        if (!IsNumber(a) || !IsNumber(b))
            throw Unsupported("//", a, b);
        return FloatDivMod(AsDouble(a), AsDouble(b)).Quotient;
    }

    public static object? Modulo(object? a, object? b)
    {
        if (a is string format)
            return PyFormat.Percent(format, b);
        FailIfUndefined(a, b);
        if (IsInteger(a) && IsInteger(b))
        {
            var (x, y) = (AsInteger(a), AsInteger(b));
            if (y == 0)
                throw new JinjaError("integer division or modulo by zero");
            var remainder = x % y;
            return remainder != 0 && (remainder < 0) != (y < 0) ? remainder + y : remainder;
        }
        if (!IsNumber(a) || !IsNumber(b))
            throw Unsupported("%", a, b);
        return FloatDivMod(AsDouble(a), AsDouble(b)).Remainder;
    }

    /// <summary>CPython's float_divmod, so signs and rounding match Python exactly.</summary>
    private static (double Quotient, double Remainder) FloatDivMod(double x, double y)
    {
        if (y == 0)
            throw new JinjaError("float divmod()");
        var mod = x % y; // C#'s % on doubles is C's fmod
        var div = (x - mod) / y;
        if (mod != 0)
        {
            if (y < 0 != mod < 0)
            {
                mod += y;
                div -= 1.0;
            }
        }
        else
        {
            mod = Math.CopySign(0.0, y);
        }
        double floorDiv;
        if (div != 0)
        {
            floorDiv = Math.Floor(div);
            if (div - floorDiv > 0.5)
                floorDiv += 1.0;
        }
        else
        {
            floorDiv = Math.CopySign(0.0, x / y);
        }
        return (floorDiv, mod);
    }

    public static object? Power(object? a, object? b)
    {
        FailIfUndefined(a, b);
        if (IsInteger(a) && IsInteger(b) && AsInteger(b) >= 0)
        {
            var (x, y) = (AsInteger(a), AsInteger(b));
            return Checked(() =>
            {
                long result = 1;
                while (y > 0)
                {
                    if ((y & 1) == 1)
                        result = checked(result * x);
                    y >>= 1;
                    if (y > 0)
                        x = checked(x * x);
                }
                return result;
            });
        }
        if (!IsNumber(a) || !IsNumber(b))
            throw Unsupported("**", a, b);
        var (baseValue, exponent) = (AsDouble(a), AsDouble(b));
        if (baseValue == 0 && exponent < 0)
            throw new JinjaError("0.0 cannot be raised to a negative power");
        var result = Math.Pow(baseValue, exponent);
        if (double.IsInfinity(result) && double.IsFinite(baseValue) && double.IsFinite(exponent))
            throw new JinjaError("(34, 'Numerical result out of range')");
        if (double.IsNaN(result) && !double.IsNaN(baseValue) && !double.IsNaN(exponent))
            throw new JinjaError("a negative number to a fractional power is complex, which templates cannot use");
        return result;
    }

    public static object? Negate(object? value) => value switch
    {
        Undefined u => throw u.Fail(),
        long l => Checked(() => checked(-l)),
        bool b => b ? -1L : 0L,
        double d => -d,
        _ => throw new JinjaError($"bad operand type for unary -: '{TypeName(value)}'"),
    };

    public static object? Plus(object? value) => value switch
    {
        Undefined u => throw u.Fail(),
        long or double => value,
        bool b => b ? 1L : 0L,
        _ => throw new JinjaError($"bad operand type for unary +: '{TypeName(value)}'"),
    };

    private static object Checked(Func<long> operation)
    {
        try
        {
            return operation();
        }
        catch (OverflowException)
        {
            throw new JinjaError("integer overflow: values beyond 64 bits are not supported");
        }
    }

    private static void FailIfUndefined(object? a, object? b)
    {
        if (a is Undefined ua)
            throw ua.Fail();
        if (b is Undefined ub)
            throw ub.Fail();
    }

    private static JinjaError Unsupported(string op, object? a, object? b) =>
        new($"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");

    /// <summary>
    /// <c>obj.name</c> as Jinja's sandbox resolves it: a Python attribute (the type's methods) first,
    /// then the item <c>obj['name']</c>; missing is Undefined. Undefined itself cannot be asked for attributes.
    /// </summary>
    public static object? GetAttribute(object? obj, string name)
    {
        switch (obj)
        {
            case Undefined u:
                throw u.Fail();
            case Dictionary<string, object?> dict:
                if (Methods.IsMethodOf(dict, name))
                    return new BoundMethod(dict, name);
                return dict.TryGetValue(name, out var value) ? value : Undefined.ForAttribute(obj, name);
            case Namespace ns:
                return ns.Attributes.TryGetValue(name, out var attribute) ? attribute : Undefined.ForAttribute(obj, name);
            case LoopContext loop:
                return loop.GetAttribute(name);
            case Macro macro when name == "name":
                return macro.Name;
            default:
                return obj is not null && Methods.IsMethodOf(obj, name) ? new BoundMethod(obj, name) : Undefined.ForAttribute(obj, name);
        }
    }

    /// <summary><c>obj[key]</c> as Jinja resolves it: the item first, then (for a string key) the attribute.</summary>
    public static object? GetItem(object? obj, object? key)
    {
        if (obj is Undefined undefined)
            throw undefined.Fail();
        if (key is PySlice slice)
            return Slice(obj, slice);
        switch (obj)
        {
            case Dictionary<string, object?> dict:
                if (key is string name)
                    return dict.TryGetValue(name, out var value) ? value : GetAttribute(obj, name);
                return Undefined.ForItem(obj, key);
            case List<object?> or object?[] or string:
                if (IsInteger(key))
                    return Index(obj, AsInteger(key));
                return key is string attribute ? GetAttribute(obj, attribute) : Undefined.ForItem(obj, key);
            default:
                return key is string other ? GetAttribute(obj, other) : Undefined.ForItem(obj, key);
        }
    }

    private static object? Index(object sequence, long index)
    {
        if (sequence is string s && HasSurrogates(s))
            sequence = CodePoints(s);
        var length = sequence switch
        {
            string text => text.Length,
            List<object?> list => list.Count,
            _ => ((object?[])sequence).Length,
        };
        var position = index < 0 ? index + length : index;
        if (position < 0 || position >= length)
            return Undefined.ForItem(sequence, index);
        return sequence switch
        {
            string text => text[(int)position].ToString(),
            List<object?> list => list[(int)position],
            _ => ((object?[])sequence)[(int)position],
        };
    }

    /// <summary>
    /// <c>obj[a:b:c]</c>. Jinja compiles slices to plain Python subscription, not to its forgiving getitem,
    /// so slicing something that is not a sequence raises instead of giving Undefined.
    /// </summary>
    public static object Slice(object? sequence, PySlice slice)
    {
        if (sequence is not (string or List<object?> or object?[]))
        {
            throw sequence is Dictionary<string, object?>
                ? new JinjaError("unhashable type: 'slice'")
                : new JinjaError($"'{TypeName(sequence)}' object is not subscriptable");
        }
        IReadOnlyList<object?> items = sequence switch
        {
            string s when !HasSurrogates(s) => [],
            string s => CodePoints(s),
            _ => (IReadOnlyList<object?>)sequence,
        };
        if (sequence is string plain && !HasSurrogates(plain))
        {
            var (start, _, step, count) = slice.Resolve(plain.Length);
            if (step == 1)
                return plain.Substring(start, count);
            var chars = new char[count];
            for (var i = 0; i < count; i++)
                chars[i] = plain[start + i * step];
            return new string(chars);
        }
        var (from, _, stride, length) = slice.Resolve(items.Count);
        var picked = new List<object?>(length);
        for (var i = 0; i < length; i++)
            picked.Add(items[from + i * stride]);
        return sequence switch
        {
            string => string.Concat(picked.Cast<string>()),
            object?[] => picked.ToArray(),
            _ => picked,
        };
    }
}
