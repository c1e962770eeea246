using System.Buffers.Binary;
using System.Text;
using System.Text.Json;

namespace QwenTune.Tests.Checkpoints;

/// <summary>
/// Reads and writes safetensors bytes by hand, straight from the format description (8-byte little-endian header
/// length, JSON header, data area), as an independent reference for the library's reader and writer.
/// </summary>
internal static class RawSafeTensors
{
    public static void Write(string path, string headerJson, byte[] data) =>
        Write(path, (ulong)Encoding.UTF8.GetByteCount(headerJson), Encoding.UTF8.GetBytes(headerJson), data);

    public static void Write(string path, ulong declaredHeaderLength, byte[] header, byte[] data)
    {
        using var stream = System.IO.File.Create(path);
        Span<byte> length = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(length, declaredHeaderLength);
        stream.Write(length);
        stream.Write(header);
        stream.Write(data);
    }

    /// <summary>The header length field, the header JSON, and the data area's file offset.</summary>
    public static (ulong HeaderLength, JsonDocument Header, long DataStart) ReadHeader(string path)
    {
        using var reader = new BinaryReader(System.IO.File.OpenRead(path));
        var length = reader.ReadUInt64();
        var json = reader.ReadBytes((int)length);
        return (length, JsonDocument.Parse(json), 8 + (long)length);
    }

    /// <summary>The raw bytes of one tensor, located through the header alone.</summary>
    public static byte[] TensorBytes(string path, string name)
    {
        var (_, header, dataStart) = ReadHeader(path);
        using (header)
        {
            var offsets = header.RootElement.GetProperty(name).GetProperty("data_offsets");
            var begin = offsets[0].GetInt64();
            var end = offsets[1].GetInt64();
            using var stream = System.IO.File.OpenRead(path);
            stream.Position = dataStart + begin;
            var bytes = new byte[end - begin];
            stream.ReadExactly(bytes);
            return bytes;
        }
    }

    public static float[] DecodeF32(byte[] bytes) =>
        Enumerable.Range(0, bytes.Length / 4).Select(i => BitConverter.ToSingle(bytes, 4 * i)).ToArray();

    /// <summary>bfloat16 is the top half of a float32: shift the 16 bits up.</summary>
    public static float[] DecodeBF16(byte[] bytes) =>
        Enumerable.Range(0, bytes.Length / 2)
            .Select(i => BitConverter.Int32BitsToSingle(BitConverter.ToUInt16(bytes, 2 * i) << 16))
            .ToArray();
}
