using QwenTune.Checkpoints;

namespace QwenTune.Tests.Checkpoints;

public sealed class ShardSizeTests
{
    [Theory]
    [InlineData("5GB", 5_000_000_000L)]
    [InlineData("500MB", 500_000_000L)]
    [InlineData("10KB", 10_000L)]
    [InlineData("2GiB", 2_147_483_648L)]
    [InlineData("3mib", 3_145_728L)]
    [InlineData("1TB", 1_000_000_000_000L)]
    [InlineData("123456", 123_456L)]
    [InlineData(" 200MB ", 200_000_000L)]
    [InlineData("8Gb", 1_000_000_000L)]
    public void Parses_sizes_as_transformers_does(string text, long expected) =>
        Assert.Equal(expected, ShardSize.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData("GB")]
    [InlineData("1.5GB")]
    [InlineData("-5MB")]
    [InlineData("0")]
    [InlineData("5 parsecs")]
    public void Rejects_sizes_it_cannot_read(string text)
    {
        var error = Assert.Throws<QwenTuneException>(() => ShardSize.Parse(text));
        Assert.Contains($"'{text}'", error.Message);
    }
}
