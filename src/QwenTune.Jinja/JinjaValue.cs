using System.Collections;
using System.Text.Json;
using System.Text.Json.Nodes;

namespace QwenTune.Jinja;

/// <summary>
/// Converts caller data to the interpreter's values: mappings become insertion-ordered string-keyed
/// dictionaries, sequences become lists, integers become <see cref="long"/>, other numbers <see cref="double"/>.
/// Values already in that form are passed through without copying.
/// </summary>
public static class JinjaValue
{
    /// <summary>Converts a JSON tree (JSON numbers without fraction or exponent become integers, as in Python's json).</summary>
    public static object? FromJson(JsonNode? node) => FromJson(node, "$");

    /// <summary>
    /// Converts plain .NET data: null, string, bool, any integer or floating type, char,
    /// string-keyed dictionaries, lists/arrays/enumerables, <see cref="JsonNode"/> and <see cref="JsonElement"/>.
    /// </summary>
    /// <exception cref="ArgumentException">A value of another type, with its path (e.g. <c>messages[2].content</c>).</exception>
    public static object? From(object? value) => From(value, "value");

    internal static object? From(object? value, string path)
    {
        switch (value)
        {
            case null or string or bool or long or double:
                return value;
            case int or short or sbyte or byte or ushort or uint:
                return Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture);
            case ulong u:
                return u <= long.MaxValue ? (long)u : (double)u;
            case float f:
                return (double)f;
            case decimal m:
                return (double)m;
            case char c:
                return c.ToString();
            case JsonNode node:
                return FromJson(node, path);
            case JsonElement element:
                return FromElement(element, path);
            case Dictionary<string, object?> dict:
                return ConvertDictionary(dict, dict, path);
            case IReadOnlyDictionary<string, object?> readOnly:
                return ConvertDictionary(readOnly, null, path);
            case IDictionary<string, object?> mutable:
                return ConvertDictionary(mutable, null, path);
            case IDictionary legacy:
                var entries = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (DictionaryEntry entry in legacy)
                {
                    if (entry.Key is not string key)
                        throw new ArgumentException($"{path} has a key of type {entry.Key.GetType().Name}; template mappings need string keys");
                    entries[key] = From(entry.Value, $"{path}.{key}");
                }
                return entries;
            case List<object?> list:
                return ConvertList(list, list, path);
            case IEnumerable sequence:
                return ConvertList(sequence.Cast<object?>(), null, path);
            default:
                throw new ArgumentException($"{path} has type {value.GetType().FullName}, which templates cannot use; pass strings, numbers, bools, null, dictionaries, lists or JSON nodes");
        }
    }

    private static Dictionary<string, object?> ConvertDictionary(IEnumerable<KeyValuePair<string, object?>> entries, Dictionary<string, object?>? reusable, string path)
    {
        Dictionary<string, object?>? copy = null;
        var index = 0;
        foreach (var (key, item) in entries)
        {
            var converted = From(item, $"{path}.{key}");
            if (copy is null && (reusable is null || !ReferenceEquals(converted, item)))
                copy = new Dictionary<string, object?>(entries.Take(index), StringComparer.Ordinal);
            copy?.Add(key, converted);
            index++;
        }
        return copy ?? reusable ?? new Dictionary<string, object?>(StringComparer.Ordinal);
    }

    private static List<object?> ConvertList(IEnumerable<object?> items, List<object?>? reusable, string path)
    {
        List<object?>? copy = null;
        var index = 0;
        foreach (var item in items)
        {
            var converted = From(item, $"{path}[{index}]");
            if (copy is null && (reusable is null || !ReferenceEquals(converted, item)))
                copy = [.. items.Take(index)];
            copy?.Add(converted);
            index++;
        }
        return copy ?? reusable ?? [];
    }

    private static object? FromJson(JsonNode? node, string path)
    {
        switch (node)
        {
            case null:
                return null;
            case JsonObject obj:
                var dict = new Dictionary<string, object?>(obj.Count, StringComparer.Ordinal);
                foreach (var (key, child) in obj)
                    dict[key] = FromJson(child, $"{path}.{key}");
                return dict;
            case JsonArray array:
                var list = new List<object?>(array.Count);
                for (var i = 0; i < array.Count; i++)
                    list.Add(FromJson(array[i], $"{path}[{i}]"));
                return list;
            default:
                var value = node.AsValue();
                return value.GetValueKind() switch
                {
                    JsonValueKind.String => value.GetValue<string>(),
                    JsonValueKind.True => true,
                    JsonValueKind.False => false,
                    JsonValueKind.Null => null,
                    JsonValueKind.Number => value.TryGetValue<JsonElement>(out var element) ? NumberFromElement(element)
                        : value.TryGetValue<long>(out var integer) ? integer
                        : value.TryGetValue<int>(out var small) ? small
                        : value.GetValue<double>(),
                    var kind => throw new ArgumentException($"{path} is a JSON {kind}, which templates cannot use"),
                };
        }
    }

    private static object? FromElement(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var dict = new Dictionary<string, object?>(StringComparer.Ordinal);
                foreach (var property in element.EnumerateObject())
                    dict[property.Name] = FromElement(property.Value, $"{path}.{property.Name}");
                return dict;
            case JsonValueKind.Array:
                var list = new List<object?>(element.GetArrayLength());
                var i = 0;
                foreach (var item in element.EnumerateArray())
                    list.Add(FromElement(item, $"{path}[{i++}]"));
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
                throw new ArgumentException($"{path} is an undefined JSON value");
        }
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
