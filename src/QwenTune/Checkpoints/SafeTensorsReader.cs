using System.Buffers.Binary;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Checkpoints;

/// <summary>
/// Reads one .safetensors file tensor by tensor: the header is parsed and validated at <see cref="Open"/>, then each
/// tensor is read straight from the file into its own memory, so a checkpoint is never held twice in RAM.
/// </summary>
/// <remarks>
/// Written here rather than taken from TorchSharp.PyBridge 1.4.4, whose safetensors code does not do this job: its
/// <c>Safetensors</c> class is internal (reachable only through whole-state-dict helpers), loads every tensor of a
/// file into a dictionary at once, validates no offsets, byte counts or header size (bad files surface as
/// NotImplementedException or out-of-range reads), caps tensors at 2 GB, and its writer stores the header length in
/// UTF-16 chars rather than bytes, without the 8-byte padding.
/// </remarks>
public sealed class SafeTensorsReader : IDisposable
{
    private readonly SafeFileHandle _file;

    private SafeTensorsReader(string path, SafeFileHandle file, long dataStart, SafeTensorsHeader header)
    {
        Path = path;
        _file = file;
        DataStart = dataStart;
        Header = header;
    }

    public string Path { get; }

    /// <summary>The file offset of the data area (8 + header length).</summary>
    public long DataStart { get; }

    public SafeTensorsHeader Header { get; }

    public IReadOnlyList<SafeTensorsEntry> Entries => Header.Entries;

    public IReadOnlyDictionary<string, string> Metadata => Header.Metadata;

    /// <summary>Opens and validates <paramref name="path"/>; throws <see cref="QwenTuneException"/> for any defect.</summary>
    public static SafeTensorsReader Open(string path)
    {
        var file = OpenHandle(path);
        try
        {
            var (dataStart, header) = ReadHeader(file, path);
            return new SafeTensorsReader(path, file, dataStart, header);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>The entry named <paramref name="name"/>; throws a QwenTuneException naming the file if absent.</summary>
    public SafeTensorsEntry GetEntry(string name) =>
        Header.ByName.TryGetValue(name, out var entry)
            ? entry
            : throw new QwenTuneException($"{Path}: no tensor named '{name}' (the file holds {Entries.Count} tensors).");

    /// <summary>Reads one tensor as a new CPU tensor, converted to <paramref name="dtype"/> when given.</summary>
    public Tensor Read(string name, ScalarType? dtype = null) => Read(GetEntry(name), dtype);

    /// <summary>Reads one tensor as a new CPU tensor, converted to <paramref name="dtype"/> when given.</summary>
    public Tensor Read(SafeTensorsEntry entry, ScalarType? dtype = null)
    {
        var tensor = torch.empty(entry.Shape.ToArray(), entry.DType);
        try
        {
            TensorMemory.ReadFrom(_file, DataStart + entry.Begin, tensor, Path);
        }
        catch
        {
            tensor.Dispose();
            throw;
        }
        if (dtype is not { } wanted || wanted == entry.DType)
            return tensor;
        using (tensor)
            return tensor.to(wanted);
    }

    /// <summary>
    /// Copies a tensor into <paramref name="destination"/> (same shape, any dtype or device). Reads in place when the
    /// destination is a contiguous CPU tensor of the file's dtype; otherwise through one temporary tensor.
    /// </summary>
    public void ReadInto(SafeTensorsEntry entry, Tensor destination)
    {
        if (!destination.shape.SequenceEqual(entry.Shape))
            throw new QwenTuneException($"{Path}: tensor '{entry.Name}' has shape {entry.ShapeText}, the destination [{string.Join(", ", destination.shape)}].");
        using var noGrad = torch.no_grad();
        if (destination.dtype == entry.DType && TensorMemory.IsDirectlyAddressable(destination))
        {
            TensorMemory.ReadFrom(_file, DataStart + entry.Begin, destination, Path);
            return;
        }
        using var staged = Read(entry);
        destination.copy_(staged);
    }

    /// <summary>Every tensor in file order, one at a time; the caller disposes each.</summary>
    public IEnumerable<(string Name, Tensor Tensor)> ReadAll(ScalarType? dtype = null)
    {
        foreach (var entry in Entries)
            yield return (entry.Name, Read(entry, dtype));
    }

    public void Dispose() => _file.Dispose();

    private static SafeFileHandle OpenHandle(string path)
    {
        try
        {
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.Read);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QwenTuneException($"{path}: cannot open the safetensors file ({e.Message}).", e);
        }
    }

    private static (long DataStart, SafeTensorsHeader Header) ReadHeader(SafeFileHandle file, string path)
    {
        var fileLength = RandomAccess.GetLength(file);
        if (fileLength < 8)
            throw SafeTensorsHeader.Corrupt(path, $"the file is {fileLength} bytes, too short for the 8-byte header length (truncated or empty)");
        Span<byte> lengthBytes = stackalloc byte[8];
        ReadExactly(file, lengthBytes, 0, path);
        var headerLength = BinaryPrimitives.ReadUInt64LittleEndian(lengthBytes);
        if (headerLength > SafeTensorsHeader.MaxHeaderBytes)
            throw SafeTensorsHeader.Corrupt(path, $"the header length field says {headerLength} bytes, over the {SafeTensorsHeader.MaxHeaderBytes}-byte limit");
        if ((long)headerLength > fileLength - 8)
            throw SafeTensorsHeader.Corrupt(path, $"the header length field says {headerLength} bytes, past the end of the {fileLength}-byte file (truncated?)");
        var json = new byte[headerLength];
        ReadExactly(file, json, 8, path);
        var dataStart = 8 + (long)headerLength;
        return (dataStart, SafeTensorsHeader.Parse(json, fileLength - dataStart, path));
    }

    private static void ReadExactly(SafeFileHandle file, Span<byte> buffer, long offset, string path)
    {
        for (var done = 0; done < buffer.Length;)
        {
            var read = RandomAccess.Read(file, buffer[done..], offset + done);
            if (read == 0)
                throw SafeTensorsHeader.Corrupt(path, $"the file ended at byte {offset + done} inside the header");
            done += read;
        }
    }
}
