using QwenTune.IO;
using QwenTune.Tests.Checkpoints;

namespace QwenTune.Tests.IO;

public sealed class AtomicFileTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Writes_text_as_utf8_without_bom_and_leaves_no_temporary_file()
    {
        var path = _folder.File("config.json");
        AtomicFile.WriteAllText(path, "{\"name\": \"größe\"}\n");
        Assert.Equal("{\"name\": \"größe\"}\n"u8.ToArray(), File.ReadAllBytes(path));
        Assert.Equal(["config.json"], _folder.FileNames());
    }

    [Fact]
    public void A_failed_write_keeps_the_old_content_and_removes_the_temporary_file()
    {
        var path = _folder.File("state.bin");
        File.WriteAllBytes(path, [1, 2, 3]);
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, stream =>
        {
            stream.Write([9, 9]);
            throw new InvalidOperationException("interrupted");
        }));
        Assert.Equal(new byte[] { 1, 2, 3 }, File.ReadAllBytes(path));
        Assert.Equal(["state.bin"], _folder.FileNames());
    }

    [Fact]
    public void Creates_missing_folders_and_reports_unwritable_targets()
    {
        var nested = Path.Combine(_folder.Path, "a", "b", "c.txt");
        AtomicFile.WriteAllText(nested, "x");
        Assert.Equal("x", File.ReadAllText(nested));

        var error = Assert.Throws<QwenTuneException>(() => AtomicFile.WriteAllText(Path.Combine(nested, "below-a-file.txt"), "y"));
        Assert.Contains("below-a-file.txt", error.Message);
    }
}
