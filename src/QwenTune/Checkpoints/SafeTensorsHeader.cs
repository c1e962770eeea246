using System.Text.Json;
using System.Text.Unicode;
using TorchSharp;

namespace QwenTune.Checkpoints;

/// <summary>
/// A parsed and validated safetensors header. Validation follows the Rust `safetensors` crate (the reference
/// implementation): every tensor's byte count equals its element count times the element size, and the tensors,
/// sorted by offset, tile the data area exactly, with no overlap, gap or trailing bytes.
/// </summary>
public sealed class SafeTensorsHeader
{
    /// <summary>The reference implementation's header cap (safetensors MAX_HEADER_SIZE, 100 MB).</summary>
    public const long MaxHeaderBytes = 100_000_000;

    public const string MetadataKey = "__metadata__";

    private SafeTensorsHeader(IReadOnlyList<SafeTensorsEntry> entries, IReadOnlyDictionary<string, string> metadata)
    {
        Entries = entries;
        Metadata = metadata;
        ByName = entries.ToDictionary(e => e.Name, StringComparer.Ordinal);
    }

    /// <summary>The tensors in data-offset order, the order in which reading them is sequential.</summary>
    public IReadOnlyList<SafeTensorsEntry> Entries { get; }

    public IReadOnlyDictionary<string, SafeTensorsEntry> ByName { get; }

    public IReadOnlyDictionary<string, string> Metadata { get; }

    /// <summary>Parses the JSON header of <paramref name="path"/>, whose data area holds <paramref name="dataLength"/> bytes.</summary>
    public static SafeTensorsHeader Parse(ReadOnlyMemory<byte> json, long dataLength, string path)
    {
        using var document = ParseJson(json, path);
        var metadata = new Dictionary<string, string>(StringComparer.Ordinal);
        var entries = new List<SafeTensorsEntry>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var property in document.RootElement.EnumerateObject())
        {
            if (!seen.Add(property.Name))
                throw Corrupt(path, $"the header names '{property.Name}' twice");
            if (property.Name == MetadataKey)
                ReadMetadata(property.Value, metadata, path);
            else
                entries.Add(ReadEntry(property.Name, property.Value, path));
        }
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        CheckLayout(entries, dataLength, path);
        return new SafeTensorsHeader(entries, metadata);
    }

    private static JsonDocument ParseJson(ReadOnlyMemory<byte> json, string path)
    {
        if (!Utf8.IsValid(json.Span))
            throw Corrupt(path, "the header is not valid UTF-8");
        if (json.Length == 0 || json.Span[0] != (byte)'{')
            throw Corrupt(path, "the header does not start with '{' (not a safetensors file?)");
        try
        {
            var document = JsonDocument.Parse(json);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                document.Dispose();
                throw Corrupt(path, "the header is not a JSON object");
            }
            return document;
        }
        catch (JsonException e)
        {
            throw Corrupt(path, $"the header is not valid JSON ({e.Message})");
        }
    }

    private static void ReadMetadata(JsonElement value, Dictionary<string, string> metadata, string path)
    {
        if (value.ValueKind == JsonValueKind.Null)
            return;
        if (value.ValueKind != JsonValueKind.Object)
            throw Corrupt(path, $"'{MetadataKey}' must be an object of strings, found {value.ValueKind}");
        foreach (var item in value.EnumerateObject())
        {
            if (item.Value.ValueKind != JsonValueKind.String)
                throw Corrupt(path, $"'{MetadataKey}' entry '{item.Name}' must be a string, found {item.Value.ValueKind}");
            metadata[item.Name] = item.Value.GetString()!;
        }
    }

    private static SafeTensorsEntry ReadEntry(string name, JsonElement value, string path)
    {
        if (value.ValueKind != JsonValueKind.Object)
            throw Corrupt(path, $"tensor '{name}' must be an object with dtype, shape and data_offsets, found {value.ValueKind}");
        var dtype = ReadDType(name, value, path);
        var shape = ReadIntegers(name, value, "shape", path);
        var offsets = ReadIntegers(name, value, "data_offsets", path);
        if (offsets.Length != 2)
            throw Corrupt(path, $"tensor '{name}': data_offsets must be [begin, end], found {offsets.Length} numbers");
        var (begin, end) = (offsets[0], offsets[1]);
        if (begin > end)
            throw Corrupt(path, $"tensor '{name}': data_offsets [{begin}, {end}] begin after they end");
        var entry = new SafeTensorsEntry(name, dtype, shape, begin, end);
        CheckByteCount(entry, path);
        return entry;
    }

    private static torch.ScalarType ReadDType(string name, JsonElement value, string path)
    {
        if (!value.TryGetProperty("dtype", out var dtype) || dtype.ValueKind != JsonValueKind.String)
            throw Corrupt(path, $"tensor '{name}' has no string field 'dtype'");
        var text = dtype.GetString()!;
        if (!SafeTensorsDType.TryParse(text, out var type))
        {
            throw new QwenTuneException(
                $"{path}: tensor '{name}' has dtype '{text}', which QwenTune does not read " +
                $"(supported: {SafeTensorsDType.SupportedNames}). Re-save the checkpoint in one of those types.");
        }
        return type;
    }

    private static long[] ReadIntegers(string name, JsonElement value, string field, string path)
    {
        if (!value.TryGetProperty(field, out var array) || array.ValueKind != JsonValueKind.Array)
            throw Corrupt(path, $"tensor '{name}' has no array field '{field}'");
        var numbers = new long[array.GetArrayLength()];
        var i = 0;
        foreach (var item in array.EnumerateArray())
        {
            if (item.ValueKind != JsonValueKind.Number || !item.TryGetInt64(out var number) || number < 0)
                throw Corrupt(path, $"tensor '{name}': {field}[{i}] is {item.GetRawText()}, not a non-negative integer");
            numbers[i++] = number;
        }
        return numbers;
    }

    private static void CheckByteCount(SafeTensorsEntry entry, string path)
    {
        long expected;
        try
        {
            expected = checked(entry.Shape.Aggregate(1L, (product, dim) => product * dim) * SafeTensorsDType.ElementSize(entry.DType));
        }
        catch (OverflowException)
        {
            throw Corrupt(path, $"tensor '{entry.Name}': shape {entry.ShapeText} is too large");
        }
        if (expected != entry.ByteCount)
        {
            throw Corrupt(path,
                $"tensor '{entry.Name}' ({SafeTensorsDType.NameOf(entry.DType)} {entry.ShapeText}) needs {expected} bytes " +
                $"but its data_offsets [{entry.Begin}, {entry.End}] span {entry.ByteCount}");
        }
    }

    // Entries arrive sorted by offset. A tensor that starts where its predecessor ended but runs past the data
    // means the file was cut short; one that starts elsewhere past the data is a bad offset.
    private static void CheckLayout(List<SafeTensorsEntry> entries, long dataLength, string path)
    {
        long previousEnd = 0;
        SafeTensorsEntry? previous = null;
        foreach (var entry in entries)
        {
            if (entry.Begin < previousEnd)
            {
                throw Corrupt(path,
                    $"tensor '{entry.Name}' data_offsets [{entry.Begin}, {entry.End}] overlap tensor '{previous!.Name}' " +
                    $"[{previous.Begin}, {previous.End}]");
            }
            if (entry.End > dataLength)
                throw entry.Begin == previousEnd ? Truncated(entry, dataLength, path) : OutOfRange(entry, dataLength, path);
            if (entry.Begin > previousEnd)
            {
                throw Corrupt(path,
                    $"tensor '{entry.Name}' starts at data offset {entry.Begin}, leaving a gap after byte {previousEnd} " +
                    "(tensors must be stored back to back)");
            }
            previousEnd = entry.End;
            previous = entry;
        }
        if (previousEnd != dataLength)
            throw Corrupt(path, $"the file has {dataLength - previousEnd} bytes after the last tensor's data");
    }

    private static QwenTuneException Truncated(SafeTensorsEntry entry, long dataLength, string path) =>
        new($"{path}: the file is truncated: tensor '{entry.Name}' needs data bytes [{entry.Begin}, {entry.End}) " +
            $"but the data area holds only {dataLength} bytes. The download or copy was probably interrupted; fetch the file again.");

    private static QwenTuneException OutOfRange(SafeTensorsEntry entry, long dataLength, string path) =>
        Corrupt(path, $"tensor '{entry.Name}' data_offsets [{entry.Begin}, {entry.End}] are out of range: " +
            $"the data area holds {dataLength} bytes");

    internal static QwenTuneException Corrupt(string path, string problem) =>
        new($"{path}: not a valid safetensors file: {problem}. Re-download or re-save the checkpoint.");
}
