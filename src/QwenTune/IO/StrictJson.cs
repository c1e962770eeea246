using System.Text.Json;
using System.Text.Json.Nodes;

namespace QwenTune.IO;

/// <summary>
/// JsonNode.Parse with every defect reported at parse time as a <see cref="JsonException"/>. JsonNode parses lazily:
/// a duplicate key or a string escaping half a surrogate pair (<c>"\ud800"</c>) otherwise surfaces as an
/// ArgumentException or InvalidOperationException at the first read, deep inside validation or rendering.
/// </summary>
internal static class StrictJson
{
    /// <summary>Parses with <paramref name="options"/> (comments, trailing commas), duplicate keys always refused.</summary>
    public static JsonNode? Parse(ReadOnlySpan<byte> utf8, JsonDocumentOptions options = default)
    {
        options.AllowDuplicateProperties = false;
        if (utf8.StartsWith("\uFEFF"u8))
            utf8 = utf8[3..];
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(utf8, documentOptions: options);
            Materialize(node);
        }
        catch (ArgumentException e)
        {
            throw new JsonException($"duplicate key ({e.Message.Split(" (Parameter")[0]})", e);
        }
        catch (InvalidOperationException e)
        {
            throw new JsonException("a string escapes half of a UTF-16 surrogate pair (\\ud800 to \\udfff without its partner), which is not text", e);
        }
        return node;
    }

    /// <summary>Reads every key and string once, so the lazy parts of the tree are decoded now.</summary>
    private static void Materialize(JsonNode? node)
    {
        switch (node)
        {
            case JsonObject obj:
                foreach (var (_, value) in obj)
                    Materialize(value);
                break;
            case JsonArray array:
                foreach (var item in array)
                    Materialize(item);
                break;
            case JsonValue value when value.GetValueKind() == JsonValueKind.String:
                value.GetValue<string>();
                break;
        }
    }
}
