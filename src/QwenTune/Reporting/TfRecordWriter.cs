using System.Buffers.Binary;
using System.Numerics;

namespace QwenTune.Reporting;

/// <summary>
/// TFRecord framing, the container of TensorBoard event files: each record is its length (uint64, little-endian), the
/// masked CRC32C of those 8 bytes, the data, and the masked CRC32C of the data (tensorflow/core/lib/io/record_writer.cc).
/// </summary>
internal sealed class TfRecordWriter(Stream stream) : IDisposable
{
    /// <summary>TensorFlow's crc32c::Mask: rotate right by 15 bits and add a constant, so a CRC of data that holds CRCs stays strong.</summary>
    private const uint MaskDelta = 0xa282ead8;

    public void Write(ReadOnlySpan<byte> record)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)record.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], MaskedCrc32C(header[..8]));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, MaskedCrc32C(record));
        stream.Write(header);
        stream.Write(record);
        stream.Write(footer);
    }

    public void Flush() => stream.Flush();

    public void Dispose() => stream.Dispose();

    internal static uint MaskedCrc32C(ReadOnlySpan<byte> data)
    {
        var crc = Crc32C(data);
        return ((crc >> 15) | (crc << 17)) + MaskDelta;
    }

    /// <summary>CRC-32C (Castagnoli), with the usual all-ones start and final inversion; the SSE4.2 instruction where present.</summary>
    internal static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = uint.MaxValue;
        for (; data.Length >= 8; data = data[8..])
            crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data));
        foreach (var b in data)
            crc = BitOperations.Crc32C(crc, b);
        return ~crc;
    }
}
