using System.Text;
using QwenTune.Checkpoints;

namespace QwenTune.Tests.Checkpoints;

/// <summary>Each defect gives a QwenTuneException naming the file and what is wrong, never a raw .NET exception.</summary>
public sealed class SafeTensorsCorruptFileTests : IDisposable
{
    private const string TwoTensors =
        """{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[3],"data_offsets":[8,20]}}""";

    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void A_well_formed_handmade_file_opens()
    {
        var path = Write(TwoTensors, 20);
        using var reader = SafeTensorsReader.Open(path);
        Assert.Equal(["a", "b"], reader.Entries.Select(e => e.Name));
        Assert.Equal([3L], reader.GetEntry("b").Shape);
    }

    [Theory]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}""", 12, "tensor 'b' data_offsets [4, 12] overlap tensor 'a' [0, 8]")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[100,108]}}""", 16, "tensor 'b' data_offsets [100, 108] are out of range: the data area holds 16 bytes")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[12,20]}}""", 20, "tensor 'b' starts at data offset 12, leaving a gap after byte 8")]
    [InlineData("""{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}""", 8, "tensor 'a' (F32 [3]) needs 12 bytes but its data_offsets [0, 8] span 8")]
    [InlineData("""{"a":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}""", 2, "tensor 'a' has dtype 'F8_E4M3', which QwenTune does not read")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}""", 12, "the file has 4 bytes after the last tensor's data")]
    [InlineData("""{"a":{"dtype":"F32","data_offsets":[0,8]}}""", 8, "tensor 'a' has no array field 'shape'")]
    [InlineData("""{"a":{"shape":[2],"data_offsets":[0,8]}}""", 8, "tensor 'a' has no string field 'dtype'")]
    [InlineData("""{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}""", 8, "tensor 'a': shape[0] is -2, not a non-negative integer")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}}""", 8, "tensor 'a': shape[0] is 2.5, not a non-negative integer")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}""", 8, "tensor 'a': data_offsets [8, 0] begin after they end")]
    [InlineData("""{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}""", 8, "tensor 'a': data_offsets must be [begin, end], found 1 numbers")]
    [InlineData("""{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}}""", 8, "tensor 'a': shape [4294967296, 4294967296] is too large")]
    [InlineData("""{"a":[1,2]}""", 0, "tensor 'a' must be an object with dtype, shape and data_offsets, found Array")]
    [InlineData("""{"__metadata__":{"format":1}}""", 0, "'__metadata__' entry 'format' must be a string, found Number")]
    [InlineData("""{"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]},"a":{"dtype":"U8","shape":[0],"data_offsets":[0,0]}}""", 0, "the header names 'a' twice")]
    [InlineData("""{"a":{"dtype":"F32",""", 0, "the header is not valid JSON")]
    [InlineData("""[1, 2]""", 0, "the header does not start with '{'")]
    public void Defective_header_is_reported_with_file_and_tensor(string header, int dataLength, string expected)
    {
        var path = Write(header, dataLength);
        var error = Assert.Throws<QwenTuneException>(() => SafeTensorsReader.Open(path));
        Assert.Contains(path, error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Truncated_file_is_reported_as_truncated()
    {
        var path = Write(TwoTensors, 20);
        using (var stream = File.OpenWrite(path))
            stream.SetLength(stream.Length - 5);
        var error = Assert.Throws<QwenTuneException>(() => SafeTensorsReader.Open(path));
        Assert.Contains($"{path}: the file is truncated: tensor 'b' needs data bytes [8, 20) but the data area holds only 15 bytes", error.Message);
    }

    [Fact]
    public void Header_length_past_the_end_of_the_file_is_reported()
    {
        var path = _folder.File("long.safetensors");
        RawSafeTensors.Write(path, 1000, Encoding.UTF8.GetBytes(TwoTensors), new byte[20]);
        var error = Assert.Throws<QwenTuneException>(() => SafeTensorsReader.Open(path));
        var fileLength = new FileInfo(path).Length;
        Assert.Contains($"the header length field says 1000 bytes, past the end of the {fileLength}-byte file", error.Message);
    }

    [Fact]
    public void Absurd_header_length_is_refused_before_allocating()
    {
        var path = _folder.File("huge.safetensors");
        RawSafeTensors.Write(path, 1UL << 62, Encoding.UTF8.GetBytes(TwoTensors), new byte[20]);
        var error = Assert.Throws<QwenTuneException>(() => SafeTensorsReader.Open(path));
        Assert.Contains($"the header length field says {1UL << 62} bytes, over the 100000000-byte limit", error.Message);
    }

    [Fact]
    public void File_shorter_than_the_length_field_is_reported()
    {
        var path = _folder.File("tiny.safetensors");
        File.WriteAllBytes(path, [1, 2, 3]);
        var error = Assert.Throws<QwenTuneException>(() => SafeTensorsReader.Open(path));
        Assert.Contains("the file is 3 bytes, too short for the 8-byte header length", error.Message);
    }

    [Fact]
    public void Header_that_is_not_utf8_is_reported()
    {
        var path = _folder.File("latin1.safetensors");
        byte[] header = [(byte)'{', (byte)'"', 0xE9, (byte)'"', (byte)':', (byte)'1', (byte)'}'];
        RawSafeTensors.Write(path, (ulong)header.Length, header, []);
        var error = Assert.Throws<QwenTuneException>(() => SafeTensorsReader.Open(path));
        Assert.Contains("the header is not valid UTF-8", error.Message);
    }

    [Fact]
    public void Missing_file_is_reported_with_its_path()
    {
        var path = _folder.File("absent.safetensors");
        var error = Assert.Throws<QwenTuneException>(() => SafeTensorsReader.Open(path));
        Assert.Contains(path, error.Message);
    }

    private string Write(string header, int dataLength)
    {
        var path = _folder.File("t.safetensors");
        RawSafeTensors.Write(path, header, Enumerable.Range(0, dataLength).Select(i => (byte)i).ToArray());
        return path;
    }
}
