using System.IO.Compression;
using System.Text;
using QwenTune.Data;

namespace QwenTune.Tests.Data;

/// <summary>Forms of chat data users bring besides plain JSON Lines: gzip, pretty-printed objects, OpenAI-style content.</summary>
public sealed class ChatDataFormatTests
{
    private const string Good = """{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}""";

    [Fact]
    public void Gzip_data_is_read_by_its_magic_bytes_whatever_its_name()
    {
        using var folder = new TempFolder();
        var path = folder.File("data.jsonl.gz");
        using (var gzip = new GZipStream(File.Create(path), CompressionLevel.Fastest))
            gzip.Write(Encoding.UTF8.GetBytes(Good + "\n" + Good.Replace("Hello", "Hey", StringComparison.Ordinal) + "\n"));
        var data = ChatDataReader.Read(path);
        Assert.Equal(["Hello", "Hey"], data.Samples.Select(s => (string)s.Messages[1]["content"]!));
        Assert.Equal(2, data.Samples[1].Location.Line);
    }

    [Fact]
    public void Corrupt_gzip_says_it_is_gzip()
    {
        using var folder = new TempFolder();
        var path = folder.File("data.jsonl");
        // A gzip header, then a deflate block of the reserved type 3 (0xff: final block, type 11).
        File.WriteAllBytes(path, [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3, 0xff, 0xff, 0xff]);
        var error = Assert.Throws<QwenTuneException>(() => ChatDataReader.Read(path));
        Assert.Contains("gzip-compressed, but cannot be decompressed", error.Message);
    }

    [Fact]
    public void Pretty_printed_objects_are_records_starting_at_their_first_line()
    {
        using var folder = new TempFolder();
        var path = folder.File("data.json");
        var pretty = "{\n  \"messages\": [\n    {\"role\": \"user\", \"content\": \"Hi\"},\n    {\"role\": \"assistant\", \"content\": \"Hello\"}\n  ]\n}\n";
        File.WriteAllText(path, pretty + pretty);
        var data = ChatDataReader.Read(path);
        Assert.Equal([1, 7], data.Samples.Select(s => s.Location.Line));
    }

    [Fact]
    public void Assistant_tool_call_turn_without_content_is_accepted_as_openai_writes_it()
    {
        using var folder = new TempFolder();
        var path = folder.File("data.jsonl");
        File.WriteAllText(path, """
            {"messages": [{"role": "user", "content": "Weather?"}, {"role": "assistant", "content": null, "tool_calls": [{"type": "function", "function": {"name": "weather", "arguments": "{}"}}]}, {"role": "tool", "content": "sunny"}, {"role": "assistant", "content": "Sunny."}]}
            {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant"}]}
            """);
        var error = Assert.Throws<QwenTuneException>(() => ChatDataReader.Read(path));
        Assert.Contains("1 invalid record(s)", error.Message);
        Assert.Contains($"{path}:2: messages[1].content is missing (only an assistant turn with \"tool_calls\" may have none)", error.Message);
        Assert.DoesNotContain($"{path}:1:", error.Message);
    }

    [Fact]
    public void Content_as_text_parts_is_joined_and_other_parts_are_refused_once_per_record()
    {
        using var folder = new TempFolder();
        var path = folder.File("data.jsonl");
        File.WriteAllText(path, """
            {"messages": [{"role": "user", "content": [{"type": "text", "text": "Hi "}, {"type": "text", "text": "there"}]}, {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]}]}
            {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}, {"role": "assistant", "content": [{"type": "text"}]}]}
            """);
        var data = ChatDataReader.Read(path, skipInvalid: true);
        Assert.Equal("Hi there", (string)data.Samples[0].Messages[0]["content"]!);
        Assert.Equal("Hello", (string)data.Samples[0].Messages[1]["content"]!);
        // Two problems, one record.
        Assert.Equal(2, data.SkippedProblems.Count);
        Assert.Equal(1, data.SkippedRecords);
        Assert.Contains($"{path}:2: messages[0].content[0] must be a text part", data.SkippedProblems[0]);
    }

    [Fact]
    public void Malformed_json_lines_report_only_one_based_positions()
    {
        using var folder = new TempFolder();
        var path = folder.File("data.jsonl");
        File.WriteAllText(path, Good + "\n{\"messages\": x}\n");
        var error = Assert.Throws<QwenTuneException>(() => ChatDataReader.Read(path));
        Assert.Contains($"{path}:2: malformed JSON (column 14)", error.Message);
        Assert.DoesNotContain("LineNumber", error.Message);
        Assert.DoesNotContain("BytePositionInLine", error.Message);
    }

    [Fact]
    public void Prompt_only_records_are_valid_when_no_assistant_turn_is_required()
    {
        using var folder = new TempFolder();
        var path = folder.File("prompts.jsonl");
        File.WriteAllText(path, """{"messages": [{"role": "user", "content": "Hi"}]}""");
        Assert.Contains("no assistant turn", Assert.Throws<QwenTuneException>(() => ChatDataReader.Read(path)).Message);
        Assert.Single(ChatDataReader.Read(path, requireAssistant: false).Samples);
    }
}
