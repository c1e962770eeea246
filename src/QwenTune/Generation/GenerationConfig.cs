using System.Text.Json;
using QwenTune.Configuration;
using QwenTune.Text;

namespace QwenTune.Generation;

/// <summary>
/// How to generate, in Hugging Face's GenerationConfig vocabulary and with its defaults (greedy; temperature 1,
/// top_k 50, top_p 1, no min_p, repetition_penalty 1 when sampling is asked). A model's generation_config.json
/// overrides the defaults (Qwen2.5-Instruct ships do_sample, temperature 0.7, top_p 0.8, top_k 20,
/// repetition_penalty 1.05, eos [151645, 151643]); command-line flags override the file.
/// </summary>
public sealed record GenerationConfig
{
    public const string FileName = "generation_config.json";

    public bool DoSample { get; init; }

    public double Temperature { get; init; } = 1.0;

    /// <summary>0 keeps every token.</summary>
    public int TopK { get; init; } = 50;

    public double TopP { get; init; } = 1.0;

    public double? MinP { get; init; }

    public double RepetitionPenalty { get; init; } = 1.0;

    /// <summary>Hugging Face's default max_length of 20 counts the prompt too; a chat reply needs more.</summary>
    public int MaxNewTokens { get; init; } = 512;

    /// <summary>The eos ids are barred until a reply has this many tokens (HF's MinNewTokensLengthLogitsProcessor); 0 bars nothing.</summary>
    public int MinNewTokens { get; init; }

    /// <summary>Generation stops at any of these (generation_config.json's eos_token_id, an int or a list).</summary>
    public IReadOnlyList<int> EosTokenIds { get; init; } = [];

    public int? PadTokenId { get; init; }

    /// <summary>The folder's generation_config.json over the defaults; the defaults alone when there is none.</summary>
    public static GenerationConfig FromDirectory(string directory)
    {
        var path = Path.Combine(directory, FileName);
        if (!File.Exists(path))
            return new GenerationConfig();
        using var document = JsonFiles.Parse(path);
        var root = document.RootElement;
        if (root.ValueKind != JsonValueKind.Object)
            throw new QwenTuneException($"{path}: expected a JSON object.");
        var defaults = new GenerationConfig();
        var config = new GenerationConfig
        {
            DoSample = Read(root, path, "do_sample", JsonValueKind.True, e => e.GetBoolean()) ?? defaults.DoSample,
            Temperature = Read(root, path, "temperature", JsonValueKind.Number, e => e.GetDouble()) ?? defaults.Temperature,
            TopK = Read(root, path, "top_k", JsonValueKind.Number, e => e.GetInt32()) ?? defaults.TopK,
            TopP = Read(root, path, "top_p", JsonValueKind.Number, e => e.GetDouble()) ?? defaults.TopP,
            MinP = Read(root, path, "min_p", JsonValueKind.Number, e => e.GetDouble()),
            RepetitionPenalty = Read(root, path, "repetition_penalty", JsonValueKind.Number, e => e.GetDouble()) ?? defaults.RepetitionPenalty,
            MaxNewTokens = Read(root, path, "max_new_tokens", JsonValueKind.Number, e => e.GetInt32()) ?? defaults.MaxNewTokens,
            MinNewTokens = Read(root, path, "min_new_tokens", JsonValueKind.Number, e => e.GetInt32()) ?? defaults.MinNewTokens,
            EosTokenIds = ReadIds(root, path, "eos_token_id"),
            PadTokenId = Read(root, path, "pad_token_id", JsonValueKind.Number, e => e.GetInt32()),
        };
        config.Validate(path);
        return config;
    }

    /// <summary>This config with the flags that were given replacing its values.</summary>
    public GenerationConfig With(GenerationArguments flags)
    {
        var config = this with
        {
            DoSample = flags.DoSample ?? DoSample,
            Temperature = flags.Temperature ?? Temperature,
            TopK = flags.TopK ?? TopK,
            TopP = flags.TopP ?? TopP,
            MinP = flags.MinP ?? MinP,
            RepetitionPenalty = flags.RepetitionPenalty ?? RepetitionPenalty,
            MaxNewTokens = flags.MaxNewTokens ?? MaxNewTokens,
            MinNewTokens = flags.MinNewTokens ?? MinNewTokens,
        };
        config.Validate("the command line");
        return config;
    }

    /// <summary>Hugging Face's GenerationConfig.validate ranges, named by flag.</summary>
    public void Validate(string origin)
    {
        if (MaxNewTokens <= 0)
            throw new QwenTuneException($"{origin}: max_new_tokens must be positive, got {MaxNewTokens}.");
        if (MinNewTokens < 0)
            throw new QwenTuneException($"{origin}: min_new_tokens must be 0 or positive, got {MinNewTokens}.");
        if (RepetitionPenalty <= 0)
            throw new QwenTuneException($"{origin}: repetition_penalty must be positive, got {RepetitionPenalty}.");
        if (!DoSample)
            return;
        if (Temperature <= 0)
            throw new QwenTuneException($"{origin}: temperature must be positive when sampling, got {Temperature}; use --do_sample False for greedy decoding.");
        if (TopK < 0)
            throw new QwenTuneException($"{origin}: top_k must be 0 (off) or positive, got {TopK}.");
        if (TopP is <= 0 or > 1)
            throw new QwenTuneException($"{origin}: top_p must be in (0, 1], got {TopP}.");
        if (MinP is < 0 or > 1)
            throw new QwenTuneException($"{origin}: min_p must be in [0, 1], got {MinP}.");
    }

    private static T? Read<T>(JsonElement root, string path, string field, JsonValueKind kind, Func<JsonElement, T> read) where T : struct
    {
        if (!root.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
            return null;
        var fits = kind == JsonValueKind.True ? value.ValueKind is JsonValueKind.True or JsonValueKind.False : value.ValueKind == kind;
        try
        {
            if (fits)
                return read(value);
        }
        catch (FormatException)
        {
        }
        var expected = kind == JsonValueKind.True ? "true or false" : typeof(T) == typeof(int) ? "an integer" : "a number";
        throw new QwenTuneException($"{path}: \"{field}\" must be {expected}, got {value.GetRawText()}.");
    }

    private static IReadOnlyList<int> ReadIds(JsonElement root, string path, string field)
    {
        if (!root.TryGetProperty(field, out var value) || value.ValueKind == JsonValueKind.Null)
            return [];
        if (value.ValueKind == JsonValueKind.Number && value.TryGetInt32(out var single))
            return [single];
        if (value.ValueKind == JsonValueKind.Array && value.EnumerateArray().All(e => e.ValueKind == JsonValueKind.Number && e.TryGetInt32(out _)))
            return [.. value.EnumerateArray().Select(e => e.GetInt32())];
        throw new QwenTuneException($"{path}: \"{field}\" must be a token id or a list of token ids, got {value.GetRawText()}.");
    }
}
