using System.Collections;
using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace QwenTune.Jinja;

/// <summary>
/// Converts caller data to the interpreter's values: mappings become insertion-ordered string-keyed
/// dictionaries, sequences become lists, integers become <see cref="long"/>, other numbers <see cref="double"/>.
/// Values already in that form (such as <see cref="FromJson(JsonNode?)"/>'s results) pass through without copying.
/// </summary>
public static class JinjaValue
{
    /// <summary>Converts a JSON tree (JSON numbers without fraction or exponent become integers, as in Python's json).</summary>
    /// <exception cref="ArgumentException">The tree holds something a template cannot use, with its path.</exception>
    public static object? FromJson(JsonNode? node) => WithPath("$", node, ConvertJson);

    /// <summary>
    /// Converts plain .NET data: null, string, bool, any integer or floating type, char,
    /// string-keyed dictionaries, lists/arrays/enumerables, <see cref="JsonNode"/> and <see cref="JsonElement"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A value of another type, with its path (e.g. <c>value.messages[2].content</c>).</exception>
    public static object? From(object? value) => WithPath("value", value, Convert);

    internal static object? From(object? value, string name) => WithPath(name, value, Convert);

    private static object? WithPath<T>(string root, T value, Func<T, object?> convert)
    {
        try
        {
            return convert(value);
        }
        catch (UnsupportedValue error)
        {
            throw new ArgumentException($"{root}{string.Concat(error.Path)} {error.Reason}");
        }
    }

    /// <summary>Raised deep in a conversion; each container on the way out adds its key, so paths cost nothing on success.</summary>
    private sealed class UnsupportedValue(string reason) : Exception(reason)
    {
        public string Reason { get; } = reason;

        public List<string> Path { get; } = [];
    }

    /// <summary>
    /// Used as an exception filter: it runs while the failure propagates (innermost container first) and returns
    /// false, so the key text is built only when a conversion actually fails.
    /// </summary>
    private static bool AddSegment(UnsupportedValue error, string segment)
    {
        error.Path.Insert(0, segment);
        return false;
    }

    private static object? Convert(object? value)
    {
        switch (value)
        {
            case null or string or bool or long or double:
                return value;
            case int or short or sbyte or byte or ushort or uint:
                return System.Convert.ToInt64(value, CultureInfo.InvariantCulture);
            case ulong u:
                return u <= long.MaxValue ? (long)u : (double)u;
            case float f:
                return (double)f;
            case decimal m:
                return (double)m;
            case char c:
                return c.ToString();
            case JsonNode node:
                return ConvertJson(node);
            case JsonElement element:
                return ConvertElement(element);
            case Dictionary<string, object?> dict:
                return ConvertDictionary(dict, dict);
            case IReadOnlyDictionary<string, object?> readOnly:
                return ConvertDictionary(readOnly, null);
            case IDictionary<string, object?> mutable:
                return ConvertDictionary(mutable, null);
            case IDictionary legacy:
                var entries = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (DictionaryEntry entry in legacy)
                {
                    if (entry.Key is not string key)
                        throw new UnsupportedValue($"has a key of type {entry.Key.GetType().Name}; template mappings need string keys");
                    try
                    {
                        entries[key] = Convert(entry.Value);
                    }
                    catch (UnsupportedValue error) when (AddSegment(error, "." + key))
                    {
                        throw;
                    }
                }
                return entries;
            case List<object?> list:
                return ConvertList(list, list);
            case IEnumerable sequence:
                return ConvertList(sequence.Cast<object?>().ToList(), null);
            default:
                throw new UnsupportedValue($"has type {value.GetType().FullName}, which templates cannot use; pass strings, numbers, bools, null, dictionaries, lists or JSON nodes");
        }
    }

    private static Dictionary<string, object?> ConvertDictionary(IEnumerable<KeyValuePair<string, object?>> entries, Dictionary<string, object?>? reusable)
    {
        Dictionary<string, object?>? copy = null;
        var index = 0;
        foreach (var (key, item) in entries)
        {
            object? converted;
            try
            {
                converted = Convert(item);
            }
            catch (UnsupportedValue error) when (AddSegment(error, "." + key))
            {
                throw;
            }
            if (copy is null && (reusable is null || !ReferenceEquals(converted, item)))
                copy = new Dictionary<string, object?>(entries.Take(index), StringComparer.Ordinal);
            copy?.Add(key, converted);
            index++;
        }
        return copy ?? reusable ?? new Dictionary<string, object?>(StringComparer.Ordinal);
    }

    private static List<object?> ConvertList(List<object?> items, List<object?>? reusable)
    {
        List<object?>? copy = null;
        for (var i = 0; i < items.Count; i++)
        {
            var item = items[i];
            object? converted;
            try
            {
                converted = Convert(item);
            }
            catch (UnsupportedValue error) when (AddSegment(error, $"[{i}]"))
            {
                throw;
            }
            if (copy is null && (reusable is null || !ReferenceEquals(converted, item)))
                copy = items.GetRange(0, i);
            copy?.Add(converted);
        }
        return copy ?? reusable ?? [];
    }

    private static object? ConvertJson(JsonNode? node)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonObject obj:
                var dict = new Dictionary<string, object?>(obj.Count, StringComparer.Ordinal);
                foreach (var (key, child) in obj)
                {
                    try
                    {
                        dict[key] = ConvertJson(child);
                    }
                    catch (UnsupportedValue error) when (AddSegment(error, "." + key))
                    {
                        throw;
                    }
                }
                return dict;
            case JsonArray array:
                var list = new List<object?>(array.Count);
                for (var i = 0; i < array.Count; i++)
                {
                    try
                    {
                        list.Add(ConvertJson(array[i]));
                    }
                    catch (UnsupportedValue error) when (AddSegment(error, $"[{i}]"))
                    {
                        throw;
                    }
                }
                return list;
            default:
                var value = node.AsValue();
                return value.GetValueKind() switch
                {
                    JsonValueKind.String => value.GetValue<string>(),
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    JsonValueKind.Null => null,
                    JsonValueKind.Number => NumberFromValue(value),
                    var kind => throw new UnsupportedValue($"is a JSON {kind}, which templates cannot use"),
                };
        }
    }

    private static object? ConvertElement(JsonElement element)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                    dict[property.Name] = ConvertElement(property.Value);
                return dict;
            case JsonValueKind.Array:
                var list = new List<object?>(element.GetArrayLength());
                foreach (var item in element.EnumerateArray())
                    list.Add(ConvertElement(item));
                return list;
            case JsonValueKind.String:
                return element.GetString();
            case JsonValueKind.Number:
                return NumberFromElement(element);
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            case JsonValueKind.Null:
                return null;
            default:
                throw new UnsupportedValue("is an undefined JSON value");
        }
    }

    /// <summary>A number held by a parsed JsonValue (a JsonElement) or one built from a CLR number.</summary>
    private static object NumberFromValue(JsonValue value)
    {
        if (value.TryGetValue<JsonElement>(out var element))
            return NumberFromElement(element);
        if (value.TryGetValue<long>(out var int64))
            return int64;
        if (value.TryGetValue<int>(out var int32))
            return (long)int32;
        if (value.TryGetValue<double>(out var float64))
            return float64;
        return Convert(value.GetValue<object>()) ?? throw new UnsupportedValue("is a JSON number holding null");
    }

    /// <summary>Python's json module: an integer literal gives int, anything with '.', 'e' or 'E' gives float.</summary>
    private static object NumberFromElement(JsonElement element)
    {
        var raw = element.GetRawText();
        if (raw.AsSpan().IndexOfAny(".eE") < 0 && element.TryGetInt64(out var integer))
            return integer;
        return element.GetDouble();
    }
}
