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
    /// counted in the result. <paramref name="requireAssistant"/> false accepts prompts to answer (generate).
    /// </summary>
    /// <param name="requireAssistant">Whether a record needs an assistant turn (training does; prompts for generation do not).</param>
    public static ChatDataset Read(string path, bool skipInvalid = false, bool requireAssistant = true)
    {
        if (Directory.Exists(path))
            throw new QwenTuneException($"{path}: is a folder; --data_path takes a .jsonl or .json file.");
        if (!File.Exists(path))
            throw new QwenTuneException($"{path}: data file not found.");
        var bytes = Decompressed(path, File.ReadAllBytes(path));
        var body = bytes.AsSpan(StartsWithBom(bytes) ? 3 : 0);
        var problems = new List<string>();
        var samples = new List<ChatSample>();
        var (invalidRecords, validationProblems) = (0, 0);
        foreach (var (line, record) in FirstNonSpace(body) == (byte)'['
                     ? ArrayRecords(path, body.ToArray(), problems)
                     : LineRecords(path, body.ToArray(), problems))
        {
            var location = new SampleLocation(path, line);
            var problemsBefore = problems.Count;
            var sample = Validate(record, location, problems, requireAssistant);
            validationProblems += problems.Count - problemsBefore;
            if (sample is not null)
                samples.Add(sample);
            else
                invalidRecords++;
        }
        invalidRecords += problems.Count - validationProblems;   // the rest are records that did not parse, one problem each
        if (problems.Count > 0 && !skipInvalid)
        {
            const int shown = 50;
            var list = string.Join("\n", problems.Take(shown));
            var more = problems.Count > shown ? $"\n... and {problems.Count - shown} more" : "";
            throw new QwenTuneException(
                $"{invalidRecords} invalid record(s) in {path}:\n{list}{more}\n" +
                "Fix them, or pass --skip_invalid_records True to train on the valid ones only.");
        }
        if (samples.Count == 0)
            throw new QwenTuneException($"{path}: no valid conversations found.");
        return new ChatDataset(samples, problems) { SkippedRecords = invalidRecords };
    }

    /// <summary>A gzip file (known by its magic bytes 1f 8b, whatever its name) is read decompressed.</summary>
    private static byte[] Decompressed(string path, byte[] bytes)
    {
        if (bytes is not [0x1f, 0x8b, ..])
            return bytes;
        try
        {
            using var gzip = new System.IO.Compression.GZipStream(new MemoryStream(bytes), System.IO.Compression.CompressionMode.Decompress);
            using var plain = new MemoryStream();
            gzip.CopyTo(plain);
            return plain.ToArray();
        }
        catch (InvalidDataException e)
        {
            throw new QwenTuneException($"{path}: gzip-compressed, but cannot be decompressed ({e.Message.TrimEnd('.')}); gunzip it to see what is wrong.");
        }
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

    private static IEnumerable<(int Line, JsonNode? Record)> LineRecords(string path, byte[] body, List<string> problems) =>
        PrettyPrintedObjects(body) ?? OneRecordPerLine(path, body, problems);

    /// <summary>
    /// One or more JSON objects pretty-printed over several lines (not JSON Lines, whose first line would then be a
    /// lone "{"): read as records starting at their first line, instead of one error for every line. Null when the
    /// body is not such a sequence (then every line is a record, and its errors are its own).
    /// </summary>
    private static List<(int Line, JsonNode? Record)>? PrettyPrintedObjects(byte[] body)
    {
        var firstLineEnd = Array.IndexOf(body, (byte)'\n');
        if (firstLineEnd < 0 || IsCompleteJson(body.AsSpan(0, firstLineEnd)))
            return null;
        var records = new List<(int Line, JsonNode? Record)>();
        var reader = new Utf8JsonReader(body, new JsonReaderOptions { AllowMultipleValues = true });
        var (line, counted) = (1, 0);
        try
        {
            while (reader.Read())
            {
                var start = (int)reader.TokenStartIndex;
                for (; counted < start; counted++)
                    line += body[counted] == (byte)'\n' ? 1 : 0;
                records.Add((line, JsonNode.Parse(ref reader)));
            }
        }
        catch (JsonException)
        {
            return null;
        }
        return records;
    }

    private static bool IsCompleteJson(ReadOnlySpan<byte> line)
    {
        if (line.Trim("\r\t "u8).IsEmpty)
            return true;   // a blank first line: leave the file to the line reader
        var reader = new Utf8JsonReader(line);
        try
        {
            while (reader.Read())
            {
            }
            return true;
        }
        catch (JsonException)
        {
            return false;
        }
    }

    private static IEnumerable<(int Line, JsonNode? Record)> OneRecordPerLine(string path, byte[] body, List<string> problems)
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

    private static ChatSample? Validate(JsonNode? record, SampleLocation at, List<string> problems, bool requireAssistant)
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
            ok &= ValidContent(message, role, where, problems);
            hasAssistant |= role == "assistant";
            list.Add(message);
        }
        if (ok && !hasAssistant && requireAssistant)
            ok = Fail(problems, $"{at}: no assistant turn (nothing to learn from)");
        var tools = obj["tools"] as JsonArray;
        if (obj.ContainsKey("tools") && obj["tools"] is not null && tools is null)
            ok = Fail(problems, $"{at}: field \"tools\" must be an array");
        var type = OptionalString(obj, "type", at, problems, ref ok);
        var source = OptionalString(obj, "source", at, problems, ref ok);
        return ok ? new ChatSample(list, tools, type, source, at) : null;
    }

    /// <summary>
    /// content is a string; as OpenAI's format also allows, an assistant turn with tool_calls may have none (null or
    /// absent), and a list of text parts ([{"type": "text", "text": "..."}]) is joined into one string, as Hugging
    /// Face's text-only chat templates expect.
    /// </summary>
    private static bool ValidContent(JsonObject message, string role, string where, List<string> problems)
    {
        message.TryGetPropertyValue("content", out var content);
        switch (content)
        {
            case JsonValue value when value.TryGetValue<string>(out _):
                return true;
            case null when role == "assistant" && message["tool_calls"] is JsonArray { Count: > 0 }:
                return true;
            case null:
                return Fail(problems, $"{where}.content is missing (only an assistant turn with \"tool_calls\" may have none)");
            case JsonArray parts:
                var texts = new List<string>(parts.Count);
                for (var p = 0; p < parts.Count; p++)
                {
                    if (parts[p] is not JsonObject part || part["type"] is not JsonValue type || !type.TryGetValue<string>(out var kind) ||
                        kind != "text" || part["text"] is not JsonValue text || !text.TryGetValue<string>(out var partText))
                        return Fail(problems, $"{where}.content[{p}] must be a text part {{\"type\": \"text\", \"text\": \"...\"}} (other kinds are not supported)");
                    texts.Add(partText);
                }
                message["content"] = string.Concat(texts);
                return true;
            default:
                return Fail(problems, $"{where}.content must be a string or a list of {{\"type\": \"text\", \"text\": ...}} parts");
        }
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

    /// <summary>System.Text.Json's message without its own " LineNumber: 0 | BytePositionInLine: 5." (0-based) or " Path:" tail.</summary>
    private static string FirstSentence(string message)
    {
        foreach (var tail in new[] { " LineNumber:", " Path:" })
        {
            var cut = message.IndexOf(tail, StringComparison.Ordinal);
            if (cut > 0)
                message = message[..cut];
        }
        return message;
    }
}
