using System.Globalization;
using System.Text;

namespace QwenTune.Jinja.Runtime;

/// <summary>
/// The common subset of Python's two string formatting languages: <c>"%s" % value</c> and
/// <c>"{}".format(...)</c>. Anything outside the subset fails with a clear message rather than
/// printing something Python would not.
/// </summary>
internal static class PyFormat
{
    public static string Percent(string format, object? arguments)
    {
        IReadOnlyList<object?> values = arguments is object?[] tuple ? tuple : [arguments];
        var mapping = arguments as Dictionary<string, object?>;
        var next = 0;
        var builder = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%')
            {
                builder.Append(format[i]);
                continue;
            }
            if (++i >= format.Length)
                throw new JinjaError("incomplete format");
            object? value = null;
            var keyed = format[i] == '(';
            if (keyed)
            {
                var close = format.IndexOf(')', i);
                if (close < 0 || mapping is null)
                    throw new JinjaError("format requires a mapping");
                var key = format[(i + 1)..close];
                value = mapping.TryGetValue(key, out var found) ? found : throw new JinjaError($"KeyError: '{key}'");
                i = close + 1;
            }
            var flags = "";
            while (i < format.Length && format[i] is '-' or '+' or ' ' or '0' or '#')
                flags += format[i++];
            var width = ReadNumber(format, ref i);
            int? precision = null;
            if (i < format.Length && format[i] == '.')
            {
                i++;
                precision = ReadNumber(format, ref i) ?? 0;
            }
            if (i >= format.Length)
                throw new JinjaError("incomplete format");
            var type = format[i];
            if (type == '%')
            {
                builder.Append('%');
                continue;
            }
            if (!keyed)
            {
                if (next >= values.Count)
                    throw new JinjaError("not enough arguments for format string");
                value = values[next++];
            }
            var text = type switch
            {
                's' => Truncate(Py.Str(value), precision),
                'r' or 'a' => Truncate(Py.Repr(value), precision),
                'd' or 'i' or 'u' => IntegerText(value, flags),
                'f' or 'F' => FixedText(value, precision ?? 6, flags),
                'x' => Convert.ToString(IntegerOf(value), 16),
                'X' => Convert.ToString(IntegerOf(value), 16).ToUpperInvariant(),
                _ => throw new JinjaError($"unsupported format character '{type}' in \"{format}\""),
            };
            builder.Append(Pad(text, width ?? 0, flags.Contains('-') ? '<' : '>', flags.Contains('0') && type is not ('s' or 'r') ? '0' : ' '));
        }
        // CPython skips this check when the argument supports item access (list, dict, Undefined), tuple aside.
        if (arguments is not (List<object?> or Undefined) && mapping is null && next < values.Count)
            throw new JinjaError("not all arguments converted during string formatting");
        return builder.ToString();
    }

    /// <summary><c>str.format</c> with automatic or numbered or named fields, <c>!r</c>/<c>!s</c>, and simple specs.</summary>
    public static string Format(string format, object?[] positional, IReadOnlyList<KeyValuePair<string, object?>> named)
    {
        var builder = new StringBuilder();
        var automatic = 0;
        bool? numbering = null; // true: automatic {}, false: manual {0}; Python refuses to mix them
        for (var i = 0; i < format.Length; i++)
        {
            var c = format[i];
            if (c == '}')
            {
                if (i + 1 < format.Length && format[i + 1] == '}')
                    i++;
                else
                    throw new JinjaError("Single '}' encountered in format string");
                builder.Append('}');
                continue;
            }
            if (c != '{')
            {
                builder.Append(c);
                continue;
            }
            if (i + 1 < format.Length && format[i + 1] == '{')
            {
                builder.Append('{');
                i++;
                continue;
            }
            var close = format.IndexOf('}', i);
            if (close < 0)
                throw new JinjaError("Single '{' encountered in format string");
            var field = format[(i + 1)..close];
            i = close;
            var spec = "";
            var colon = field.IndexOf(':');
            if (colon >= 0)
            {
                spec = field[(colon + 1)..];
                field = field[..colon];
            }
            var conversion = '\0';
            var bang = field.IndexOf('!');
            if (bang >= 0)
            {
                conversion = bang + 1 < field.Length ? field[bang + 1] : '?';
                field = field[..bang];
            }
            object? value;
            var isIndex = int.TryParse(field, NumberStyles.None, CultureInfo.InvariantCulture, out var index);
            if (field.Length == 0 || isIndex)
            {
                if (numbering is { } automaticNumbering && automaticNumbering != (field.Length == 0))
                    throw new JinjaError("cannot switch from manual field specification to automatic field numbering"); // the sandbox's string.Formatter says this either way
                numbering = field.Length == 0;
            }
            if (field.Length == 0)
                value = automatic < positional.Length ? positional[automatic++] : throw new JinjaError("Replacement index out of range");
            else if (isIndex)
                value = index < positional.Length ? positional[index] : throw new JinjaError($"Replacement index {index} out of range");
            else
                value = named.FirstOrDefault(p => p.Key == field) is { Key: not null } pair ? pair.Value : throw new JinjaError($"KeyError: '{field}'");
            var text = conversion switch
            {
                '\0' => null,
                's' => Py.Str(value),
                'r' => Py.Repr(value),
                _ => throw new JinjaError($"Unknown conversion specifier {conversion}"),
            };
            builder.Append(ApplySpec(text is null ? value : text, spec));
        }
        return builder.ToString();
    }

    /// <summary>The format-spec subset <c>[[fill]align][0][width][.precision][type]</c> with types s, d, f, %.</summary>
    private static string ApplySpec(object? value, string spec)
    {
        if (spec.Length == 0)
            return Py.Str(value);
        var i = 0;
        var fill = ' ';
        char? align = null;
        if (spec.Length >= 2 && spec[1] is '<' or '>' or '^')
        {
            fill = spec[0];
            align = spec[1];
            i = 2;
        }
        else if (spec[0] is '<' or '>' or '^')
        {
            align = spec[0];
            i = 1;
        }
        if (i < spec.Length && spec[i] == '0')
        {
            fill = '0';
            align ??= '>';
            i++;
        }
        var width = ReadNumber(spec, ref i) ?? 0;
        int? precision = null;
        if (i < spec.Length && spec[i] == '.')
        {
            i++;
            precision = ReadNumber(spec, ref i) ?? 0;
        }
        var type = i < spec.Length ? spec[i++] : '\0';
        if (i != spec.Length)
            throw new JinjaError($"unsupported format spec '{spec}'");
        var text = type switch
        {
            '\0' when precision is not null && value is double => FixedText(value, precision.Value, ""),
            '\0' or 's' => Truncate(Py.Str(value), type == 's' ? precision : null),
            'd' => IntegerText(value, ""),
            'f' or 'F' => FixedText(value, precision ?? 6, ""),
            '%' => FixedText(Py.AsDouble(value) * 100, precision ?? 6, "") + "%",
            _ => throw new JinjaError($"unsupported format spec '{spec}'"),
        };
        var defaultAlign = value is string ? '<' : '>';
        return Pad(text, width, align ?? defaultAlign, fill);
    }

    private static int? ReadNumber(string text, ref int i)
    {
        var start = i;
        while (i < text.Length && char.IsAsciiDigit(text[i]))
            i++;
        return i > start ? int.Parse(text.AsSpan(start, i - start), CultureInfo.InvariantCulture) : null;
    }

    private static string Truncate(string text, int? precision) =>
        precision is { } p && p < text.Length ? text[..p] : text;

    private static long IntegerOf(object? value) => value switch
    {
        double d => (long)Math.Truncate(d),
        _ when Py.IsInteger(value) => Py.AsInteger(value),
        _ => throw new JinjaError($"%d format: a real number is required, not {Py.TypeName(value)}"),
    };

    private static string IntegerText(object? value, string flags)
    {
        var number = IntegerOf(value);
        var text = number.ToString(CultureInfo.InvariantCulture);
        return number >= 0 && flags.Contains('+') ? "+" + text : text;
    }

    private static string FixedText(object? value, int precision, string flags)
    {
        var number = Py.AsDouble(value);
        var text = number.ToString("F" + precision.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
        return number >= 0 && flags.Contains('+') ? "+" + text : text;
    }

    private static string Pad(string text, int width, char align, char fill)
    {
        if (text.Length >= width)
            return text;
        var padding = width - text.Length;
        if (fill == '0' && align == '>' && text.Length > 0 && text[0] is '-' or '+')
            return text[0] + new string('0', padding) + text[1..];
        return align switch
        {
            '<' => text + new string(fill, padding),
            '^' => new string(fill, padding / 2) + text + new string(fill, padding - padding / 2),
            _ => new string(fill, padding) + text,
        };
    }
}
