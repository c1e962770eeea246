using System.Text.Json;

namespace QwenTune.Text;

/// <summary>
/// The transformers side of a tokenizer (tokenizer_config.json): which tokens are eos, pad and bos, the length limit
/// and the chat template. The template may also live in chat_template.jinja or chat_template.json, which newer
/// transformers versions write instead.
/// </summary>
internal sealed record TokenizerConfig(
    string? EosToken,
    string? PadToken,
    string? BosToken,
    int? ModelMaxLength,
    string? ChatTemplate)
{
    public const string FileName = "tokenizer_config.json";
    public const string ChatTemplateJinjaFile = "chat_template.jinja";
    public const string ChatTemplateJsonFile = "chat_template.json";

    public static TokenizerConfig Read(string directory)
    {
        try
        {
            return ReadValidated(directory);
        }
        catch (InvalidOperationException e)
        {
            throw JsonFiles.NotText(Path.Combine(directory, FileName), e);
        }
    }

    private static TokenizerConfig ReadValidated(string directory)
    {
        var path = Path.Combine(directory, FileName);
        using var document = JsonFiles.Parse(path);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new QwenTuneException($"{path}: the top level is not a JSON object.");
        return new TokenizerConfig(
            TokenText(path, root, "eos_token"),
            TokenText(path, root, "pad_token"),
            TokenText(path, root, "bos_token"),
            ReadModelMaxLength(root),
            ReadChatTemplate(path, root) ?? ReadChatTemplateFile(directory));
    }

    /// <summary>A token is written as a string, or as an AddedToken object with "content".</summary>
    private static string? TokenText(string path, JsonElement root, string key)
    {
        if (!root.TryGetProperty(key, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind == JsonValueKind.String)
            return value.GetString();
        if (value.ValueKind == JsonValueKind.Object && value.TryGetProperty("content", out var content) && content.ValueKind == JsonValueKind.String)
            return content.GetString();
        throw new QwenTuneException($"{path}: \"{key}\" is {value.GetRawText()}; expected a token string or an object with \"content\".");
    }

    /// <summary>transformers writes a huge float (1e30) when there is no limit; that reads as no limit.</summary>
    private static int? ReadModelMaxLength(JsonElement root) =>
        root.TryGetProperty("model_max_length", out var value) && value.ValueKind == JsonValueKind.Number
        && value.TryGetDouble(out var length) && length is >= 1 and <= int.MaxValue && length == Math.Floor(length)
            ? (int)length
            : null;

    /// <summary>A string, or a list of {"name", "template"} of which the one named "default" is the chat template.</summary>
    private static string? ReadChatTemplate(string path, JsonElement root)
    {
        if (!root.TryGetProperty("chat_template", out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        if (value.ValueKind == JsonValueKind.String)
            return value.GetString();
        if (value.ValueKind == JsonValueKind.Array)
        {
            foreach (var named in value.EnumerateArray())
            {
                if (named.ValueKind == JsonValueKind.Object
                    && named.TryGetProperty("name", out var name) && name.ValueKind == JsonValueKind.String && name.GetString() == "default"
                    && named.TryGetProperty("template", out var template) && template.ValueKind == JsonValueKind.String)
                    return template.GetString();
            }
            return null;
        }
        throw new QwenTuneException($"{path}: \"chat_template\" is neither a string nor a list of named templates.");
    }

    private static string? ReadChatTemplateFile(string directory)
    {
        var jinja = Path.Combine(directory, ChatTemplateJinjaFile);
        if (File.Exists(jinja))
            return File.ReadAllText(jinja);
        var json = Path.Combine(directory, ChatTemplateJsonFile);
        if (!File.Exists(json))
            return null;
        using var document = JsonFiles.Parse(json);
        return document.RootElement.ValueKind == JsonValueKind.Object
            ? ReadChatTemplate(json, document.RootElement)
            : throw new QwenTuneException($"{json}: the top level is not a JSON object.");
    }
}
