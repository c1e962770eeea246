using QwenTune.Data;

namespace QwenTune.Tests.Data;

/// <summary>JSON that parses lazily into trouble (found by fuzzing): each is a clear file:line problem, never a crash.</summary>
public sealed class ChatDataReaderHostileJsonTests
{
    private const string Good = """{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}""";

    [Theory]
    [InlineData("""{"messages": [{"role": "user", "content": "a", "content": "b"}, {"role": "assistant", "content": "y"}]}""", "duplicate")]
    [InlineData("""{"messages": [{"ro\ud800le": "user", "content": "a"}, {"role": "assistant", "content": "y"}]}""", "surrogate")]
    [InlineData("""{"messages": [{"role": "user", "content": "a\udc00"}, {"role": "assistant", "content": "y"}]}""", "surrogate")]
    public void A_record_with_a_duplicate_key_or_half_a_surrogate_pair_is_a_problem_on_its_line(string record, string reason)
    {
        using var folder = new TempFolder();
        var path = folder.File("data.jsonl");
        File.WriteAllText(path, Good + "\n" + record + "\n" + Good + "\n");

        var error = Assert.Throws<QwenTuneException>(() => ChatDataReader.Read(path));
        Assert.Contains("1 invalid record(s)", error.Message);
        Assert.Contains($"{path}:2: malformed JSON", error.Message);
        Assert.Contains(reason, error.Message, StringComparison.OrdinalIgnoreCase);
        Assert.Equal(2, ChatDataReader.Read(path, skipInvalid: true).Samples.Count);
    }

    [Fact]
    public void A_json_array_with_a_duplicate_key_is_refused_naming_the_file()
    {
        using var folder = new TempFolder();
        var path = folder.File("data.json");
        File.WriteAllText(path, "[" + Good + ",\n" + """{"messages": [], "messages": []}""" + "]");

        var error = Assert.Throws<QwenTuneException>(() => ChatDataReader.Read(path));
        Assert.Contains($"{path}", error.Message);
        Assert.Contains("duplicate", error.Message, StringComparison.OrdinalIgnoreCase);
    }
}
