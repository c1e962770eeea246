using System.Text.Json;
using QwenTune.IO;

namespace QwenTune.Checkpoints;

/// <summary>
/// <c>model.safetensors.index.json</c>: <c>{"metadata": {"total_size": bytes}, "weight_map": {tensor: shard file}}</c>,
/// written like transformers does (indent 2, sorted keys, trailing newline).
/// </summary>
public static class HfCheckpointIndex
{
    /// <summary>Reads the weight map; shard names must be plain file names inside the index's folder.</summary>
    public static IReadOnlyDictionary<string, string> ReadWeightMap(string path)
    {
        using var document = ParseFile(path);
        if (document.RootElement.ValueKind != JsonValueKind.Object
            || !document.RootElement.TryGetProperty("weight_map", out var map)
            || map.ValueKind != JsonValueKind.Object)
        {
            throw new QwenTuneException($"{path}: no \"weight_map\" object; a sharded checkpoint's index must map each tensor to its shard file.");
        }
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var item in map.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String || !IsPlainFileName(item.Value.GetString()!))
                throw new QwenTuneException($"{path}: weight_map entry '{item.Name}' must name a shard file in the same folder, found {item.Value.GetRawText()}.");
            if (!weightMap.TryAdd(item.Name, item.Value.GetString()!))
                throw new QwenTuneException($"{path}: weight_map lists '{item.Name}' twice.");
        }
        return weightMap;
    }

    /// <summary>Writes the index atomically.</summary>
    public static void Write(string path, IReadOnlyDictionary<string, string> weightMap, long totalSize)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer, new JsonWriterOptions { Indented = true }))
        {
            json.WriteStartObject();
            json.WriteStartObject("metadata");
            json.WriteNumber("total_size", totalSize);
            json.WriteEndObject();
            json.WriteStartObject("weight_map");
            foreach (var (tensor, shard) in weightMap.OrderBy(p => p.Key, StringComparer.Ordinal))
                json.WriteString(tensor, shard);
            json.WriteEndObject();
            json.WriteEndObject();
        }
        buffer.WriteByte((byte)'\n');
        AtomicFile.WriteAllBytes(path, buffer.ToArray());
    }

    private static JsonDocument ParseFile(string path)
    {
        try
        {
            return JsonDocument.Parse(File.ReadAllBytes(path));
        }
        catch (JsonException e)
        {
            throw new QwenTuneException($"{path}: not valid JSON ({e.Message}). Re-download the checkpoint's index file.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QwenTuneException($"{path}: cannot read the checkpoint index ({e.Message}).", e);
        }
    }

    private static bool IsPlainFileName(string name) =>
        name.Length > 0 && name != "." && name != ".." && name.IndexOfAny(['/', '\\', '\0']) < 0;
}
