using System.Text.Json;

namespace QwenTune.Text;

/// <summary>
/// The parts of a Hugging Face tokenizer.json that a Qwen tokenizer needs: the BPE vocabulary and merges, the added
/// tokens, and whether text is NFC-normalised. Anything this project does not implement is refused by name rather
/// than silently tokenised differently from Hugging Face.
/// </summary>
internal sealed class TokenizerJson
{
    public const string FileName = "tokenizer.json";

    private TokenizerJson(List<KeyValuePair<string, int>> vocab, List<string> merges, List<AddedToken> addedTokens, bool normalizeNfc)
    {
        Vocab = vocab;
        Merges = merges;
        AddedTokens = addedTokens;
        NormalizeNfc = normalizeNfc;
    }

    /// <summary>Token to id, in file order (a list: the library builds its own dictionary from it).</summary>
    public List<KeyValuePair<string, int>> Vocab { get; }

    /// <summary>Merges as "left right" strings, in rank order.</summary>
    public List<string> Merges { get; }

    public List<AddedToken> AddedTokens { get; }

    public bool NormalizeNfc { get; }

    /// <summary>
    /// Reads the file with a forward-only reader: the vocabulary and merges (300,000 entries, most of the 7-11 MB)
    /// go straight into lists without a document tree; the small sections are parsed as trees.
    /// </summary>
    public static TokenizerJson Read(string path)
    {
        var bytes = JsonFiles.ReadBytes(path);
        try
        {
            return Parse(path, bytes);
        }
        catch (JsonException e)
        {
            throw JsonFiles.Malformed(path, e);
        }
        catch (InvalidOperationException e)
        {
            throw JsonFiles.NotText(path, e);
        }
    }

    private static TokenizerJson Parse(string path, byte[] bytes)
    {
        var reader = new Utf8JsonReader(bytes, new JsonReaderOptions { AllowTrailingCommas = true });
        if (!reader.Read() || reader.TokenType != JsonTokenType.StartObject)
            throw Invalid(path, "the top level is not a JSON object");

        List<KeyValuePair<string, int>>? vocab = null;
        List<string>? merges = null;
        var addedTokens = new List<AddedToken>();
        var normalizeNfc = false;
        var sawModel = false;
        var sawPreTokenizer = false;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString();
            reader.Read();
            switch (name)
            {
                case "model":
                    sawModel = true;
                    (vocab, merges) = ReadModel(path, ref reader);
                    break;
                case "added_tokens":
                    using (var document = JsonDocument.ParseValue(ref reader))
                        addedTokens = ReadAddedTokens(path, document.RootElement);
                    break;
                case "normalizer":
                    using (var document = JsonDocument.ParseValue(ref reader))
                        normalizeNfc = ReadNormalizer(path, document.RootElement);
                    break;
                case "pre_tokenizer":
                    sawPreTokenizer = true;
                    using (var document = JsonDocument.ParseValue(ref reader))
                        CheckPreTokenizer(path, document.RootElement);
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }

        if (!sawModel)
            throw Invalid(path, "it has no \"model\" object; is this a Hugging Face tokenizers file?");
        if (!sawPreTokenizer)
            throw Invalid(path, "\"pre_tokenizer\" is missing; Qwen tokenizers split text with a regex before BPE");
        return new TokenizerJson(vocab!, merges!, addedTokens, normalizeNfc);
    }

    private static (List<KeyValuePair<string, int>> Vocab, List<string> Merges) ReadModel(string path, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw Invalid(path, "\"model\" is not an object");
        List<KeyValuePair<string, int>>? vocab = null;
        List<string>? merges = null;
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var name = reader.GetString()!;
            reader.Read();
            switch (name)
            {
                case "vocab":
                    vocab = ReadVocab(path, ref reader);
                    break;
                case "merges":
                    merges = ReadMerges(path, ref reader);
                    break;
                case "type" or "continuing_subword_prefix" or "end_of_word_suffix" or "ignore_merges":
                    CheckModelOption(path, name, ref reader);
                    break;
                default:
                    reader.Skip();
                    break;
            }
        }
        if (vocab is null)
            throw Invalid(path, "\"model.vocab\" is missing");
        if (merges is null)
            throw Invalid(path, "\"model.merges\" is missing");
        return (vocab, merges);
    }

    private static void CheckModelOption(string path, string name, ref Utf8JsonReader reader)
    {
        var value = reader.TokenType switch
        {
            JsonTokenType.String => reader.GetString(),
            JsonTokenType.True => "true",
            _ => null,
        };
        reader.Skip();
        var problem = name switch
        {
            "type" when value is not null and not "BPE" =>
                $"\"model.type\" is \"{value}\"; only byte-level BPE (Qwen2, Qwen2.5, Qwen3) is supported",
            "continuing_subword_prefix" or "end_of_word_suffix" when value is not null and not "" =>
                $"\"model.{name}\" is \"{value}\"; byte-level Qwen tokenizers have none, and it is not supported",
            "ignore_merges" when value == "true" =>
                "\"model.ignore_merges\" is true, which is not supported (Qwen tokenizers use false)",
            _ => null,
        };
        if (problem is not null)
            throw Invalid(path, problem);
    }

    private static List<KeyValuePair<string, int>> ReadVocab(string path, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartObject)
            throw Invalid(path, "\"model.vocab\" is not an object of token to id");
        var vocab = new List<KeyValuePair<string, int>>(160_000);
        while (reader.Read() && reader.TokenType == JsonTokenType.PropertyName)
        {
            var token = reader.GetString()!;
            reader.Read();
            if (reader.TokenType != JsonTokenType.Number || !reader.TryGetInt32(out var id) || id < 0)
                throw Invalid(path, $"\"model.vocab\" maps {JsonSerializer.Serialize(token)} to something other than a non-negative integer id");
            vocab.Add(new KeyValuePair<string, int>(token, id));
        }
        if (vocab.Count == 0)
            throw Invalid(path, "\"model.vocab\" is empty");
        return vocab;
    }

    private static List<string> ReadMerges(string path, ref Utf8JsonReader reader)
    {
        if (reader.TokenType != JsonTokenType.StartArray)
            throw Invalid(path, "\"model.merges\" is not an array");
        var merges = new List<string>(160_000);
        while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
        {
            // Older files write a merge as "left right", newer ones as ["left", "right"].
            string? merge = null;
            if (reader.TokenType == JsonTokenType.String)
            {
                merge = reader.GetString()!;
            }
            else if (reader.TokenType == JsonTokenType.StartArray
                     && reader.Read() && reader.TokenType == JsonTokenType.String && reader.GetString() is var left
                     && reader.Read() && reader.TokenType == JsonTokenType.String && reader.GetString() is var right
                     && reader.Read() && reader.TokenType == JsonTokenType.EndArray
                     && !left!.Contains(' ') && !right!.Contains(' '))
            {
                merge = left + " " + right;
            }
            if (merge is null || merge.Split(' ').Length != 2)
                throw Invalid(path, $"\"model.merges[{merges.Count}]\" is not \"left right\" or [\"left\", \"right\"] (two tokens without spaces)");
            merges.Add(merge);
        }
        return merges;
    }

    private static List<AddedToken> ReadAddedTokens(string path, JsonElement array)
    {
        var tokens = new List<AddedToken>();
        if (array.ValueKind == JsonValueKind.Null)
            return tokens;
        if (array.ValueKind != JsonValueKind.Array)
            throw Invalid(path, "\"added_tokens\" is not an array");
        var index = 0;
        foreach (var token in array.EnumerateArray())
        {
            if (token.ValueKind != JsonValueKind.Object
                || !token.TryGetProperty("id", out var id) || id.ValueKind != JsonValueKind.Number || !id.TryGetInt32(out var idValue) || idValue < 0
                || !token.TryGetProperty("content", out var content) || content.ValueKind != JsonValueKind.String || content.GetString() == "")
                throw Invalid(path, $"\"added_tokens[{index}]\" needs a non-negative integer \"id\" and a non-empty string \"content\"");
            var special = token.TryGetProperty("special", out var flag) && flag.ValueKind == JsonValueKind.True;
            tokens.Add(new AddedToken(idValue, content.GetString()!, special));
            index++;
        }
        return tokens;
    }

    private static bool ReadNormalizer(string path, JsonElement normalizer) =>
        normalizer.ValueKind == JsonValueKind.Null ? false
        : TypeOf(normalizer) == "NFC" ? true
        : throw Invalid(path, $"\"normalizer\" is {normalizer.GetRawText()}; only NFC (or none) is supported");

    /// <summary>
    /// The pre-tokenizer is implemented by <see cref="QwenPreTokenizer"/>, so the file must ask for exactly that:
    /// a Split on Qwen's regex (Isolated), then ByteLevel without its own regex.
    /// </summary>
    private static void CheckPreTokenizer(string path, JsonElement pre)
    {
        var steps = pre.ValueKind == JsonValueKind.Object && pre.TryGetProperty("pretokenizers", out var list) && list.ValueKind == JsonValueKind.Array
            ? list.EnumerateArray().ToList()
            : [pre];
        var split = steps.FirstOrDefault(s => TypeOf(s) == "Split");
        var regex = split.ValueKind == JsonValueKind.Object
                    && split.TryGetProperty("pattern", out var pattern) && pattern.ValueKind == JsonValueKind.Object
                    && pattern.TryGetProperty("Regex", out var r) && r.ValueKind == JsonValueKind.String ? r.GetString() : null;
        var isolated = split.ValueKind == JsonValueKind.Object
                       && split.TryGetProperty("behavior", out var behavior) && behavior.ValueKind == JsonValueKind.String
                       && behavior.GetString() == "Isolated"
                       && !(split.TryGetProperty("invert", out var invert) && invert.ValueKind == JsonValueKind.True);
        var byteLevel = steps.Any(s => TypeOf(s) == "ByteLevel"
                                       && !(s.TryGetProperty("add_prefix_space", out var prefix) && prefix.ValueKind == JsonValueKind.True));
        if (regex != QwenPreTokenizer.Pattern || !isolated || !byteLevel || steps.Count != 2)
            throw Invalid(path, $"\"pre_tokenizer\" is not Qwen's (a Split on {JsonSerializer.Serialize(QwenPreTokenizer.Pattern)} "
                                + "with behavior Isolated, then ByteLevel without add_prefix_space); other pre-tokenizers are not supported");
    }

    private static string? TypeOf(JsonElement element) =>
        element.ValueKind == JsonValueKind.Object && element.TryGetProperty("type", out var type) && type.ValueKind == JsonValueKind.String
            ? type.GetString()
            : null;

    private static QwenTuneException Invalid(string path, string problem) =>
        new($"{path}: {problem}.");
}
