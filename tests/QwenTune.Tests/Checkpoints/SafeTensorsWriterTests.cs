using System.Text;
using QwenTune.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Tests.Checkpoints;

public sealed class SafeTensorsWriterTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Header_follows_the_format_length_json_padding_and_metadata()
    {
        var path = _folder.File("t.safetensors");
        using var bytes = torch.arange(0, 3, dtype: ScalarType.Byte);
        using var floats = torch.tensor(new float[] { 1.5f, -2f }, [2]);
        // A non-ASCII name: the length field counts UTF-8 bytes, not characters.
        SafeTensorsWriter.Write(path, [new("größe", bytes), new("w", floats)]);

        var (length, header, dataStart) = RawSafeTensors.ReadHeader(path);
        using (header)
        {
            var headerBytes = File.ReadAllBytes(path).AsSpan(8, (int)length).ToArray();
            var json = Encoding.UTF8.GetString(headerBytes).TrimEnd(' ');
            Assert.Equal(0, dataStart % 8);
            Assert.True(headerBytes.Length - Encoding.UTF8.GetByteCount(json) < 8);
            Assert.Equal('}', json[^1]);
            Assert.Equal("pt", header.RootElement.GetProperty("__metadata__").GetProperty("format").GetString());
            // F32 first (larger elements first keeps every tensor aligned), then U8.
            Assert.Equal("""{"dtype":"F32","shape":[2],"data_offsets":[0,8]}""", header.RootElement.GetProperty("w").GetRawText());
            Assert.Equal("""{"dtype":"U8","shape":[3],"data_offsets":[8,11]}""", header.RootElement.GetProperty("größe").GetRawText());
        }
        Assert.Equal(dataStart + 11, new FileInfo(path).Length);
        Assert.Equal(new[] { 1.5f, -2f }, RawSafeTensors.DecodeF32(RawSafeTensors.TensorBytes(path, "w")));
        Assert.Equal(new byte[] { 0, 1, 2 }, RawSafeTensors.TensorBytes(path, "größe"));
    }

    [Theory]
    [InlineData("a")]
    [InlineData("ab")]
    [InlineData("abc")]
    [InlineData("abcd")]
    [InlineData("abcde")]
    [InlineData("abcdef")]
    [InlineData("abcdefg")]
    [InlineData("abcdefgh")]
    public void Header_is_padded_with_spaces_to_a_multiple_of_8_bytes(string name)
    {
        var path = _folder.File("t.safetensors");
        using var x = torch.ones(1);
        SafeTensorsWriter.Write(path, [new(name, x)]);

        var (length, header, _) = RawSafeTensors.ReadHeader(path);
        header.Dispose();
        var headerBytes = File.ReadAllBytes(path).AsSpan(8, (int)length).ToArray();
        var jsonLength = Encoding.UTF8.GetByteCount(Encoding.UTF8.GetString(headerBytes).TrimEnd(' '));
        Assert.Equal(0UL, length % 8);
        Assert.Equal((8 - jsonLength % 8) % 8, headerBytes.Length - jsonLength);
    }

    [Fact]
    public void Every_supported_dtype_round_trips_bit_for_bit()
    {
        var path = _folder.File("all.safetensors");
        var tensors = SampleTensors.AllDTypes();
        try
        {
            SafeTensorsWriter.Write(path, tensors, new Dictionary<string, string> { ["note"] = "hi" });
            using var reader = SafeTensorsReader.Open(path);
            Assert.Equal("hi", reader.Metadata["note"]);
            Assert.Equal("pt", reader.Metadata["format"]);
            foreach (var (name, original) in tensors)
            {
                using var loaded = reader.Read(name);
                SampleTensors.AssertBitIdentical(original, loaded);
            }
        }
        finally
        {
            SampleTensors.Dispose(tensors);
        }
    }

    [Fact]
    public void Non_contiguous_tensors_are_written_in_logical_order()
    {
        var path = _folder.File("t.safetensors");
        using var matrix = torch.arange(0, 6, dtype: ScalarType.Float32).reshape(2, 3);
        using var transposed = matrix.t();
        SafeTensorsWriter.Write(path, [new("t", transposed)]);
        Assert.Equal(new float[] { 0, 3, 1, 4, 2, 5 }, RawSafeTensors.DecodeF32(RawSafeTensors.TensorBytes(path, "t")));
    }

    [Fact]
    public void Writing_leaves_no_temporary_file_and_replaces_the_old_file()
    {
        var path = _folder.File("t.safetensors");
        File.WriteAllText(path, "old");
        using var x = torch.ones(4);
        SafeTensorsWriter.Write(path, [new("x", x)]);
        Assert.Equal(["t.safetensors"], _folder.FileNames());
        using var reader = SafeTensorsReader.Open(path);
        Assert.Equal("x", Assert.Single(reader.Entries).Name);
    }

    [Fact]
    public void Duplicate_or_reserved_names_are_refused()
    {
        using var x = torch.ones(1);
        var path = _folder.File("t.safetensors");
        Assert.Contains("'x' is reserved or given twice", Assert.Throws<QwenTuneException>(() => SafeTensorsWriter.Write(path, [new("x", x), new("x", x)])).Message);
        Assert.Contains("'__metadata__'", Assert.Throws<QwenTuneException>(() => SafeTensorsWriter.Write(path, [new("__metadata__", x)])).Message);
        Assert.False(File.Exists(path));
    }
}
