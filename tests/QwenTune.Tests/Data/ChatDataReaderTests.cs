using QwenTune.Data;

namespace QwenTune.Tests.Data;

public sealed class ChatDataReaderTests
{
    private const string Good = """{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}], "type": "chat", "source": "t"}""";

    private static string Write(TempFolder folder, string content, string name = "data.jsonl")
    {
        var path = folder.File(name);
        File.WriteAllText(path, content);
        return path;
    }

    [Fact]
    public void Every_problem_is_reported_with_file_line_and_field()
    {
        using var folder = new TempFolder();
        var path = Write(folder, string.Join("\n",
            Good,
            """{"messages": [{"role": "user", "content": "Hi"}""",
            """{"conversations": []}""",
            """{"messages": []}""",
            """{"messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]}""",
            """{"messages": [{"role": "user"}, {"role": "assistant", "content": "y"}]}""",
            """{"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "y"}]}""",
            """{"messages": [{"role": "user", "content": "only a question"}]}""",
            "",
            """[1, 2]""",
            Good));
        var error = Assert.Throws<QwenTuneException>(() => ChatDataReader.Read(path));
        Assert.Contains("8 invalid record(s)", error.Message);
        Assert.Contains($"{path}:2: malformed JSON", error.Message);
        Assert.Contains($"{path}:3: field \"messages\" is missing", error.Message);
        Assert.Contains($"{path}:4: field \"messages\" is empty", error.Message);
        Assert.Contains($"{path}:5: messages[0].role 'robot' is unknown", error.Message);
        Assert.Contains($"{path}:6: messages[0].content is missing", error.Message);
        Assert.Contains($"{path}:7: messages[0].content must be a string", error.Message);
        Assert.Contains($"{path}:8: no assistant turn", error.Message);
        Assert.Contains($"{path}:10: the record must be a JSON object", error.Message);
        Assert.Contains("--skip_invalid_records", error.Message);
    }

    [Fact]
    public void Invalid_utf8_is_reported_on_its_line()
    {
        using var folder = new TempFolder();
        var path = folder.File("bad.jsonl");
        var bytes = System.Text.Encoding.UTF8.GetBytes(Good + "\n" + Good.Replace("Hello", "Hel\u0001lo") + "\n").ToList();
        var at = bytes.IndexOf(1);
        bytes[at] = 0xC3;                 // a lead byte followed by 'l': not UTF-8
        File.WriteAllBytes(path, bytes.ToArray());
        var error = Assert.Throws<QwenTuneException>(() => ChatDataReader.Read(path));
        Assert.Contains($"{path}:2: invalid UTF-8", error.Message);
    }

    [Fact]
    public void Skipping_keeps_the_valid_records_and_counts_the_rest()
    {
        using var folder = new TempFolder();
        var path = Write(folder, Good + "\n{oops\n" + Good + "\n");
        var data = ChatDataReader.Read(path, skipInvalid: true);
        Assert.Equal(2, data.Samples.Count);
        Assert.Single(data.SkippedProblems);
        Assert.Equal([1, 3], data.Samples.Select(s => s.Location.Line));
        Assert.Equal("chat", data.Samples[0].Type);
        Assert.Equal("t", data.Samples[0].Source);
    }

    [Fact]
    public void A_json_array_file_is_read_with_the_line_of_each_record()
    {
        using var folder = new TempFolder();
        var path = Write(folder, $"[\n  {Good},\n  {{\"messages\": []}}\n]\n", "data.json");
        var error = Assert.Throws<QwenTuneException>(() => ChatDataReader.Read(path));
        Assert.Contains($"{path}:3: field \"messages\" is empty", error.Message);
        File.WriteAllText(path, $"[{Good},\n{Good}]");
        Assert.Equal([1, 2], ChatDataReader.Read(path).Samples.Select(s => s.Location.Line));
    }

    [Fact]
    public void Missing_files_and_folders_are_named()
    {
        using var folder = new TempFolder();
        Assert.Contains("data file not found", Assert.Throws<QwenTuneException>(() => ChatDataReader.Read(folder.File("nope.jsonl"))).Message);
        Assert.Contains("is a folder", Assert.Throws<QwenTuneException>(() => ChatDataReader.Read(folder.Path)).Message);
    }
}
