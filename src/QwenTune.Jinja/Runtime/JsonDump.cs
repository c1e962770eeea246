using System.Globalization;
using System.Text;

namespace QwenTune.Jinja.Runtime;

/// <summary>
/// Python's <c>json.dumps</c>, which Hugging Face installs as the <c>tojson</c> filter
/// (transformers/utils/chat_template_utils.py): <c>ensure_ascii=False</c> by default, separators
/// <c>", "</c>/<c>": "</c> (or <c>","</c>/<c>": "</c> once indenting), dict insertion order unless sort_keys.
/// </summary>
internal sealed class JsonDump
{
    private readonly StringBuilder _builder = new();
    private readonly bool _ensureAscii;
    private readonly string? _indent;
    private readonly string _itemSeparator;
    private readonly string _keySeparator;
    private readonly bool _sortKeys;

    private JsonDump(bool ensureAscii, string? indent, string itemSeparator, string keySeparator, bool sortKeys)
    {
        _ensureAscii = ensureAscii;
        _indent = indent;
        _itemSeparator = itemSeparator;
        _keySeparator = keySeparator;
        _sortKeys = sortKeys;
    }

    public static string Dumps(object? value, bool ensureAscii, object? indent, object? separators, bool sortKeys)
    {
        var indentText = indent switch
        {
            null => null,
            string s => s,
            _ when Py.IsInteger(indent) => new string(' ', (int)Math.Max(0, Py.AsInteger(indent))),
            _ => throw new JinjaError($"tojson indent must be an integer or a string, not {Py.TypeName(indent)}"),
        };
        var (item, key) = separators switch
        {
            null => (indentText is null ? ", " : ",", ": "),
            IReadOnlyList<object?> { Count: 2 } pair when pair[0] is string i && pair[1] is string k => (i, k),
            _ => throw new JinjaError("tojson separators must be a pair of strings"),
        };
        var dump = new JsonDump(ensureAscii, indentText, item, key, sortKeys);
        dump.Write(value, 0);
        return dump._builder.ToString();
    }

    private void Write(object? value, int depth)
    {
        switch (value)
        {
            case null:
                _builder.Append("null");
                break;
            case bool b:
                _builder.Append(b ? "true" : "false");
                break;
            case long l:
                _builder.Append(l.ToString(CultureInfo.InvariantCulture));
                break;
            case double d:
                _builder.Append(FloatText(d));
                break;
            case string s:
                WriteString(s);
                break;
            case List<object?> or object?[]:
                WriteArray((IReadOnlyList<object?>)value, depth);
                break;
            case Dictionary<string, object?> dict:
                WriteObject(dict, depth);
                break;
            default:
                throw new JinjaError($"Object of type {Py.TypeName(value)} is not JSON serializable");
        }
    }

    private static string FloatText(double d) =>
        double.IsNaN(d) ? "NaN" : double.IsPositiveInfinity(d) ? "Infinity" : double.IsNegativeInfinity(d) ? "-Infinity" : PyFloat.Repr(d);

    private void WriteArray(IReadOnlyList<object?> items, int depth)
    {
        if (items.Count == 0)
        {
            _builder.Append("[]");
            return;
        }
        _builder.Append('[');
        for (var i = 0; i < items.Count; i++)
        {
            if (i > 0)
                _builder.Append(_itemSeparator);
            NewLine(depth + 1);
            Write(items[i], depth + 1);
        }
        NewLine(depth);
        _builder.Append(']');
    }

    private void WriteObject(Dictionary<string, object?> dict, int depth)
    {
        if (dict.Count == 0)
        {
            _builder.Append("{}");
            return;
        }
        IEnumerable<KeyValuePair<string, object?>> entries = _sortKeys ? dict.OrderBy(e => e.Key, StringComparer.Ordinal) : dict;
        _builder.Append('{');
        var first = true;
        foreach (var (key, item) in entries)
        {
            if (!first)
                _builder.Append(_itemSeparator);
            first = false;
            NewLine(depth + 1);
            WriteString(key);
            _builder.Append(_keySeparator);
            Write(item, depth + 1);
        }
        NewLine(depth);
        _builder.Append('}');
    }

    private void NewLine(int depth)
    {
        if (_indent is null)
            return;
        _builder.Append('\n');
        for (var i = 0; i < depth; i++)
            _builder.Append(_indent);
    }

    /// <summary>json.encoder's escaping: the two-character escapes, \u00XX for other controls, non-ASCII kept unless ensure_ascii.</summary>
    private void WriteString(string text)
    {
        _builder.Append('"');
        foreach (var c in text)
        {
            switch (c)
            {
                case '"':
                    _builder.Append("\\\"");
                    break;
                case '\\':
                    _builder.Append("\\\\");
                    break;
                case '\n':
                    _builder.Append("\\n");
                    break;
                case '\r':
                    _builder.Append("\\r");
                    break;
                case '\t':
                    _builder.Append("\\t");
                    break;
                case '\b':
                    _builder.Append("\\b");
                    break;
                case '\f':
                    _builder.Append("\\f");
                    break;
                default:
                    if (c < 0x20 || (_ensureAscii && c > 0x7E))
                        _builder.Append("\\u").Append(((int)c).ToString("x4", CultureInfo.InvariantCulture));
                    else
                        _builder.Append(c);
                    break;
            }
        }
        _builder.Append('"');
    }
}
