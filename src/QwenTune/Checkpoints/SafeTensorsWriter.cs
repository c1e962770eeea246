using System.Buffers.Binary;
using System.Text.Json;
using QwenTune.IO;
using static TorchSharp.torch;

namespace QwenTune.Checkpoints;

/// <summary>
/// Writes .safetensors files the way Hugging Face's `safetensors` does: <c>{"format":"pt"}</c> metadata, the JSON
/// header padded with spaces to a multiple of 8 bytes, tensors ordered by element size (largest first) then name so
/// every tensor stays aligned to its element size. Tensors are written one at a time, atomically (<see cref="AtomicFile"/>).
/// </summary>
public static class SafeTensorsWriter
{
    private const int HeaderAlignment = 8;

    /// <summary>Writes <paramref name="tensors"/> to <paramref name="path"/>; returns the entries as written.</summary>
    public static IReadOnlyList<SafeTensorsEntry> Write(
        string path,
        IEnumerable<KeyValuePair<string, Tensor>> tensors,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        var ordered = Order(tensors, path);
        var entries = Layout(ordered);
        var header = HeaderBytes(entries, metadata);
        AtomicFile.Write(path, stream =>
        {
            Span<byte> length = stackalloc byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(length, (ulong)header.Length);
            stream.Write(length);
            stream.Write(header);
            foreach (var (_, tensor) in ordered)
                WriteTensor(stream, tensor);
        });
        return entries;
    }

    /// <summary>The byte size a tensor takes in a safetensors file.</summary>
    public static long ByteCount(Tensor tensor) => tensor.NumberOfElements * SafeTensorsDType.ElementSize(tensor.dtype);

    private static List<(string Name, Tensor Tensor)> Order(IEnumerable<KeyValuePair<string, Tensor>> tensors, string path)
    {
        var list = new List<(string Name, Tensor Tensor)>();
        var names = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (name, tensor) in tensors)
        {
            if (name == SafeTensorsHeader.MetadataKey || !names.Add(name))
                throw new QwenTuneException($"Cannot write {path}: tensor name '{name}' is reserved or given twice.");
            list.Add((name, tensor));
        }
        return list
            .OrderByDescending(t => SafeTensorsDType.ElementSize(t.Tensor.dtype))
            .ThenBy(t => t.Name, StringComparer.Ordinal)
            .ToList();
    }

    private static List<SafeTensorsEntry> Layout(List<(string Name, Tensor Tensor)> ordered)
    {
        var entries = new List<SafeTensorsEntry>(ordered.Count);
        long offset = 0;
        foreach (var (name, tensor) in ordered)
        {
            var end = offset + ByteCount(tensor);
            entries.Add(new SafeTensorsEntry(name, tensor.dtype, tensor.shape, offset, end));
            offset = end;
        }
        return entries;
    }

    private static byte[] HeaderBytes(List<SafeTensorsEntry> entries, IReadOnlyDictionary<string, string>? metadata)
    {
        using var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            WriteMetadata(json, metadata);
            foreach (var entry in entries)
                WriteEntry(json, entry);
            json.WriteEndObject();
        }
        var padding = (HeaderAlignment - (int)(buffer.Length % HeaderAlignment)) % HeaderAlignment;
        for (var i = 0; i < padding; i++)
            buffer.WriteByte((byte)' ');
        return buffer.ToArray();
    }

    private static void WriteMetadata(Utf8JsonWriter json, IReadOnlyDictionary<string, string>? metadata)
    {
        json.WriteStartObject(SafeTensorsHeader.MetadataKey);
        if (metadata is null || !metadata.ContainsKey("format"))
            json.WriteString("format", "pt");
        foreach (var (key, value) in metadata ?? new Dictionary<string, string>())
            json.WriteString(key, value);
        json.WriteEndObject();
    }

    private static void WriteEntry(Utf8JsonWriter json, SafeTensorsEntry entry)
    {
        json.WriteStartObject(entry.Name);
        json.WriteString("dtype", SafeTensorsDType.NameOf(entry.DType));
        json.WriteStartArray("shape");
        foreach (var dim in entry.Shape)
            json.WriteNumberValue(dim);
        json.WriteEndArray();
        json.WriteStartArray("data_offsets");
        json.WriteNumberValue(entry.Begin);
        json.WriteNumberValue(entry.End);
        json.WriteEndArray();
        json.WriteEndObject();
    }

    // A non-contiguous or non-CPU tensor is copied once, on its own, never the whole state dict.
    private static void WriteTensor(Stream stream, Tensor tensor)
    {
        if (TensorMemory.IsDirectlyAddressable(tensor))
        {
            TensorMemory.WriteTo(stream, tensor);
            return;
        }
        using var detached = tensor.detach();
        using var cpu = detached.cpu();
        using var contiguous = cpu.contiguous();
        TensorMemory.WriteTo(stream, contiguous);
    }
}
