using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenTune.IO;

namespace QwenTune.Data;

/// <summary>
/// Reads ChatML training data: JSON Lines (one record a line) or one JSON array of records, as Qwen's
/// documentation shows. Every record is validated before any training starts; all problems are collected
/// as `file:line: reason` so that one run shows them all.
/// </summary>
public static class ChatDataReader
{
    private static readonly HashSet<string> KnownRoles = ["system", "user", "assistant", "tool"];
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    /// <summary>
    /// Reads and validates <paramref name="path"/>. With <paramref name="skipInvalid"/> false any problem
    /// throws one <see cref="QwenTuneException"/> listing them all; with it, bad records are left out and
    /// counted in the result.
    /// </summary>
    public static ChatDataset Read(string path, bool skipInvalid = false)
    {
        if (Directory.Exists(path))
            throw new QwenTuneException($"{path}: is a folder; --data_path takes a .jsonl or .json file.");
        if (!File.Exists(path))
            throw new QwenTuneException($"{path}: data file not found.");
        var bytes = File.ReadAllBytes(path);
        var body = bytes.AsSpan(StartsWithBom(bytes) ? 3 : 0);
        var problems = new List<string>();
        var samples = new List<ChatSample>();
        foreach (var (line, record) in FirstNonSpace(body) == (byte)'['
                     ? ArrayRecords(path, body.ToArray(), problems)
                     : LineRecords(path, body.ToArray(), problems))
        {
            var location = new SampleLocation(path, line);
            var sample = Validate(record, location, problems);
            if (sample is not null)
                samples.Add(sample);
        }
        if (problems.Count > 0 && !skipInvalid)
        {
            const int shown = 50;
            var list = string.Join("\n", problems.Take(shown));
            var more = problems.Count > shown ? $"\n... and {problems.Count - shown} more" : "";
            throw new QwenTuneException(
                $"{problems.Count} invalid record(s) in {path}:\n{list}{more}\n" +
                "Fix them, or pass --skip_invalid_records True to train on the valid ones only.");
        }
        if (samples.Count == 0)
            throw new QwenTuneException($"{path}: no valid conversations found.");
        return new ChatDataset(samples, problems);
    }

    private static bool StartsWithBom(byte[] bytes) =>
        bytes.Length >= 3 && bytes[0] == 0xEF && bytes[1] == 0xBB && bytes[2] == 0xBF;

    private static byte FirstNonSpace(ReadOnlySpan<byte> body)
    {
        foreach (var b in body)
        {
            if (b is not ((byte)' ' or (byte)'\t' or (byte)'\r' or (byte)'\n'))
                return b;
        }
        return 0;
    }

    private static IEnumerable<(int Line, JsonNode? Record)> LineRecords(string path, byte[] body, List<string> problems)
    {
        var lineNumber = 0;
        var start = 0;
        while (start <= body.Length)
        {
            var end = Array.IndexOf(body, (byte)'\n', start);
            if (end < 0)
                end = body.Length;
            lineNumber++;
            var line = body.AsMemory(start, end - start);
            start = end + 1;
            if (line.Span.Trim("\r\t "u8).IsEmpty)
                continue;
            var record = ParseLine(path, lineNumber, line, problems);
            if (record is not null)
                yield return (lineNumber, record);
        }
    }

    private static JsonNode? ParseLine(string path, int lineNumber, ReadOnlyMemory<byte> line, List<string> problems)
    {
        try
        {
            StrictUtf8.GetCharCount(line.Span);
        }
        catch (DecoderFallbackException e)
        {
            problems.Add($"{path}:{lineNumber}: invalid UTF-8 at byte {e.Index} of the line");
            return null;
        }
        try
        {
            return StrictJson.Parse(line.Span) ?? Reject<JsonNode>(problems, $"{path}:{lineNumber}: the record is null");
        }
        catch (JsonException e)
        {
            return Reject<JsonNode>(problems, $"{path}:{lineNumber}: malformed JSON{(e.BytePositionInLine is long column ? $" (column {column + 1})" : "")}: {FirstSentence(e.Message)}");
        }
    }

    private static IEnumerable<(int Line, JsonNode? Record)> ArrayRecords(string path, byte[] body, List<string> problems)
    {
        JsonArray array;
        try
        {
            StrictUtf8.GetCharCount(body);
        }
        catch (DecoderFallbackException e)
        {
            problems.Add($"{path}:{LineOf(body, e.Index)}: invalid UTF-8");
            yield break;
        }
        try
        {
            array = StrictJson.Parse(body)!.AsArray();
        }
        catch (JsonException e)
        {
            problems.Add(e.LineNumber is long line
                ? $"{path}:{line + 1}: malformed JSON (column {e.BytePositionInLine + 1}): {FirstSentence(e.Message)}"
                : $"{path}: malformed JSON: {FirstSentence(e.Message)}");
            yield break;
        }
        var lines = ElementStartLines(body);
        for (var i = 0; i < array.Count; i++)
            yield return (i < lines.Count ? lines[i] : 0, array[i]);
    }

    /// <summary>The 1-based line where each top-level array element starts (JsonNode keeps no positions).</summary>
    private static List<int> ElementStartLines(byte[] body)
    {
        var lines = new List<int>();
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        var lineStarts = 0;
        var line = 1;
        while (reader.Read())
        {
            if (reader.CurrentDepth != 1 || reader.TokenType is JsonTokenType.EndObject or JsonTokenType.EndArray)
                continue;
            var at = (int)reader.TokenStartIndex;
            for (; lineStarts < at; lineStarts++)
            {
                if (body[lineStarts] == (byte)'\n')
                    line++;
            }
            lines.Add(line);
            if (reader.TokenType is JsonTokenType.StartObject or JsonTokenType.StartArray)
                reader.Skip();
        }
        return lines;
    }

    private static int LineOf(byte[] body, int byteIndex)
    {
        var line = 1;
        for (var i = 0; i < byteIndex && i < body.Length; i++)
        {
            if (body[i] == (byte)'\n')
                line++;
        }
        return line;
    }

    private static ChatSample? Validate(JsonNode? record, SampleLocation at, List<string> problems)
    {
        if (record is not JsonObject obj)
            return Reject<ChatSample>(problems, $"{at}: the record must be a JSON object with \"messages\"");
        if (!obj.TryGetPropertyValue("messages", out var messagesNode) || messagesNode is null)
            return Reject<ChatSample>(problems, $"{at}: field \"messages\" is missing");
        if (messagesNode is not JsonArray messages)
            return Reject<ChatSample>(problems, $"{at}: field \"messages\" must be an array of {{\"role\", \"content\"}} objects");
        if (messages.Count == 0)
            return Reject<ChatSample>(problems, $"{at}: field \"messages\" is empty");
        var ok = true;
        var hasAssistant = false;
        var list = new List<JsonObject>(messages.Count);
        for (var i = 0; i < messages.Count; i++)
        {
            var where = $"{at}: messages[{i}]";
            if (messages[i] is not JsonObject message)
            {
                ok = Fail(problems, $"{where} must be an object with \"role\" and \"content\"");
                continue;
            }
            if (message["role"] is not JsonValue roleValue || !roleValue.TryGetValue<string>(out var role))
            {
                ok = Fail(problems, $"{where}.role is missing or not a string");
                continue;
            }
            if (!KnownRoles.Contains(role))
                ok = Fail(problems, $"{where}.role '{role}' is unknown (expected system, user, assistant or tool)");
            if (!message.TryGetPropertyValue("content", out var content) || content is null)
                ok = Fail(problems, $"{where}.content is missing");
            else if (content is not JsonValue contentValue || !contentValue.TryGetValue<string>(out _))
                ok = Fail(problems, $"{where}.content must be a string");
            hasAssistant |= role == "assistant";
            list.Add(message);
        }
        if (ok && !hasAssistant)
            ok = Fail(problems, $"{at}: no assistant turn (nothing to learn from)");
        var tools = obj["tools"] as JsonArray;
        if (obj.ContainsKey("tools") && obj["tools"] is not null && tools is null)
            ok = Fail(problems, $"{at}: field \"tools\" must be an array");
        var type = OptionalString(obj, "type", at, problems, ref ok);
        var source = OptionalString(obj, "source", at, problems, ref ok);
        return ok ? new ChatSample(list, tools, type, source, at) : null;
    }

    private static string? OptionalString(JsonObject obj, string key, SampleLocation at, List<string> problems, ref bool ok)
    {
        if (!obj.TryGetPropertyValue(key, out var node) || node is null)
            return null;
        if (node is JsonValue value && value.TryGetValue<string>(out var text))
            return text;
        ok = Fail(problems, $"{at}: field \"{key}\" must be a string");
        return null;
    }

    private static bool Fail(List<string> problems, string problem)
    {
        problems.Add(problem);
        return false;
    }

    private static T? Reject<T>(List<string> problems, string problem) where T : class
    {
        problems.Add(problem);
        return null;
    }

    private static string FirstSentence(string message)
    {
        var cut = message.IndexOf(" Path:", StringComparison.Ordinal);
        return cut > 0 ? message[..cut] : message;
    }
}
