using System.Text.Json;

namespace QwenTune.Text;

/// <summary>Reads JSON files, turning a missing file or malformed JSON into a message that names the file and line.</summary>
internal static class JsonFiles
{
    public static JsonDocument Parse(string path)
    {
        var bytes = ReadBytes(path);
        try
        {
            return JsonDocument.Parse(bytes, new JsonDocumentOptions { AllowTrailingCommas = true });
        }
        catch (JsonException e)
        {
            throw Malformed(path, e);
        }
    }

    public static byte[] ReadBytes(string path)
    {
        try
        {
            return File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is FileNotFoundException or DirectoryNotFoundException)
        {
            throw new QwenTuneException($"{path} not found. A Qwen model folder needs tokenizer.json and tokenizer_config.json; copy them from the base model.", e);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QwenTuneException($"{path} could not be read: {e.Message}", e);
        }
    }

    public static QwenTuneException Malformed(string path, JsonException e)
    {
        // JsonException counts lines and columns from 0.
        var where = e.LineNumber is long line ? $" at line {line + 1}, column {e.BytePositionInLine + 1}" : "";
        var reason = e.Message.Split(" LineNumber:")[0].TrimEnd();
        return new QwenTuneException($"{path} is not valid JSON{where} ({reason}). Re-download or re-save the file.", e);
    }

    /// <summary>
    /// System.Text.Json reads a string escaping half a surrogate pair (<c>"\ud800"</c>) or holding invalid UTF-8
    /// only when asked for it, throwing InvalidOperationException (found by fuzzing).
    /// </summary>
    public static QwenTuneException NotText(string path, InvalidOperationException e) =>
        new($"{path} holds a string that is not valid text ({e.Message.TrimEnd('.')}: invalid UTF-8, or an escaped half of a "
            + "surrogate pair such as \\ud800). Re-download or re-save the file.", e);
}
