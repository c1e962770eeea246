using System.Buffers.Binary;
using System.Text;

namespace QwenTune.Tests.Reporting;

/// <summary>One summary value of an event as decoded: a scalar, or text with its plugin.</summary>
internal sealed record DecodedValue(string Tag, float? SimpleValue, string? PluginName, int? TensorDtype, long[] Shape, string[] Strings);

/// <summary>One event record as decoded.</summary>
internal sealed record DecodedEvent(double WallTime, long Step, string? FileVersion, IReadOnlyList<DecodedValue> Values);

/// <summary>
/// Reads a TensorBoard event file without QwenTune's code or Google.Protobuf: the TFRecord framing with both masked
/// CRC32C checks (a bitwise CRC-32C here, polynomial 0x82F63B78), and the protobuf wire format decoded by hand with the
/// field numbers of TensorBoard's event.proto, summary.proto and tensor.proto.
/// </summary>
internal static class EventFileReader
{
    public static List<DecodedEvent> Read(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var events = new List<DecodedEvent>();
        var at = 0;
        while (at < bytes.Length)
        {
            Assert.True(bytes.Length - at >= 12, $"{path}: a truncated record header at byte {at}");
            var length = BinaryPrimitives.ReadUInt64LittleEndian(bytes.AsSpan(at));
            Assert.Equal(MaskedCrc(bytes.AsSpan(at, 8)), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 8)));
            at += 12;
            Assert.True((ulong)(bytes.Length - at) >= length + 4, $"{path}: a truncated record at byte {at}");
            var data = bytes.AsSpan(at, (int)length);
            Assert.Equal(MaskedCrc(data), BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + (int)length)));
            events.Add(Event(data.ToArray()));
            at += (int)length + 4;
        }
        return events;
    }

    /// <summary>CRC-32C bit by bit (reflected polynomial 0x82F63B78), then TensorFlow's mask.</summary>
    public static uint MaskedCrc(ReadOnlySpan<byte> data)
    {
        var crc = Crc32C(data);
        return ((crc >> 15) | (crc << 17)) + 0xa282ead8u;
    }

    public static uint Crc32C(ReadOnlySpan<byte> data)
    {
        var crc = 0xFFFFFFFFu;
        foreach (var b in data)
        {
            crc ^= b;
            for (var k = 0; k < 8; k++)
                crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F63B78u : crc >> 1;
        }
        return ~crc;
    }

    // Event: wall_time = 1 (double), step = 2 (int64), file_version = 3 (string), summary = 5 (Summary).
    private static DecodedEvent Event(byte[] data)
    {
        double wallTime = 0;
        long step = 0;
        string? version = null;
        var values = new List<DecodedValue>();
        foreach (var (field, wire, number, payload) in Fields(data))
        {
            switch (field)
            {
                case 1: Assert.Equal(1, wire); wallTime = BitConverter.Int64BitsToDouble((long)number); break;
                case 2: Assert.Equal(0, wire); step = (long)number; break;
                case 3: Assert.Equal(2, wire); version = Encoding.UTF8.GetString(payload); break;
                case 5:
                    Assert.Equal(2, wire);
                    // Summary: repeated Value value = 1.
                    foreach (var (f, w, _, value) in Fields(payload))
                    {
                        Assert.Equal((1, 2), (f, w));
                        values.Add(Value(value));
                    }
                    break;
                default: Assert.Fail($"unexpected Event field {field}"); break;
            }
        }
        return new DecodedEvent(wallTime, step, version, values);
    }

    // Summary.Value: tag = 1, simple_value = 2 (float), tensor = 8 (TensorProto), metadata = 9 (SummaryMetadata).
    private static DecodedValue Value(byte[] data)
    {
        string tag = "";
        float? simple = null;
        string? plugin = null;
        int? dtype = null;
        var shape = new List<long>();
        var strings = new List<string>();
        foreach (var (field, wire, number, payload) in Fields(data))
        {
            switch (field)
            {
                case 1: tag = Encoding.UTF8.GetString(payload); break;
                case 2: Assert.Equal(5, wire); simple = BitConverter.Int32BitsToSingle((int)number); break;
                case 9:
                    // SummaryMetadata.plugin_data = 1 -> PluginData.plugin_name = 1, content = 2.
                    foreach (var (_, _, _, pluginData) in Fields(payload).Where(x => x.Field == 1))
                        plugin = Fields(pluginData).Where(x => x.Field == 1).Select(x => Encoding.UTF8.GetString(x.Payload)).Single();
                    break;
                case 8:
                    // TensorProto: dtype = 1, tensor_shape = 2 (dim = 2 -> size = 1), string_val = 8.
                    foreach (var (f, _, n, p) in Fields(payload))
                    {
                        if (f == 1)
                            dtype = (int)n;
                        else if (f == 2)
                            shape.AddRange(Fields(p).Where(x => x.Field == 2).Select(d => (long)Fields(d.Payload).Single(x => x.Field == 1).Number));
                        else if (f == 8)
                            strings.Add(Encoding.UTF8.GetString(p));
                    }
                    break;
                default: Assert.Fail($"unexpected Summary.Value field {field}"); break;
            }
        }
        return new DecodedValue(tag, simple, plugin, dtype, [.. shape], [.. strings]);
    }

    /// <summary>The fields of a protobuf message: number, wire type, the varint or fixed value, and a length-delimited payload.</summary>
    private static List<(int Field, int Wire, ulong Number, byte[] Payload)> Fields(byte[] data)
    {
        var fields = new List<(int, int, ulong, byte[])>();
        var at = 0;
        while (at < data.Length)
        {
            var key = Varint(data, ref at);
            var (field, wire) = ((int)(key >> 3), (int)(key & 7));
            switch (wire)
            {
                case 0: fields.Add((field, wire, Varint(data, ref at), [])); break;
                case 1: fields.Add((field, wire, BinaryPrimitives.ReadUInt64LittleEndian(data.AsSpan(at)), [])); at += 8; break;
                case 5: fields.Add((field, wire, BinaryPrimitives.ReadUInt32LittleEndian(data.AsSpan(at)), [])); at += 4; break;
                case 2:
                    var length = (int)Varint(data, ref at);
                    fields.Add((field, wire, 0, data.AsSpan(at, length).ToArray()));
                    at += length;
                    break;
                default: Assert.Fail($"wire type {wire}"); break;
            }
        }
        return fields;
    }

    private static ulong Varint(byte[] data, ref int at)
    {
        ulong value = 0;
        for (var shift = 0; ; shift += 7)
        {
            var b = data[at++];
            value |= (ulong)(b & 0x7f) << shift;
            if (b < 0x80)
                return value;
        }
    }
}
