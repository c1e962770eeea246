using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace QwenTune.Models;

/// <summary>
/// The architecture of a Qwen2 / Qwen2.5 / Qwen3 dense model, in the vocabulary of Hugging Face's config.json.
/// Fields we do not model are kept in <see cref="Extra"/> so that a saved config.json round-trips.
/// </summary>
public sealed record QwenConfig
{
    [JsonPropertyName("model_type")] public string ModelType { get; init; } = "qwen2";
    [JsonPropertyName("architectures")] public IReadOnlyList<string>? Architectures { get; init; }
    [JsonPropertyName("vocab_size")] public int VocabSize { get; init; } = 151936;
    [JsonPropertyName("hidden_size")] public int HiddenSize { get; init; }
    [JsonPropertyName("intermediate_size")] public int IntermediateSize { get; init; }
    [JsonPropertyName("num_hidden_layers")] public int NumHiddenLayers { get; init; }
    [JsonPropertyName("num_attention_heads")] public int NumAttentionHeads { get; init; }
    [JsonPropertyName("num_key_value_heads")] public int? NumKeyValueHeads { get; init; }
    [JsonPropertyName("head_dim")] public int? HeadDimOverride { get; init; }
    [JsonPropertyName("hidden_act")] public string HiddenAct { get; init; } = "silu";
    [JsonPropertyName("rms_norm_eps")] public double RmsNormEps { get; init; } = 1e-6;
    [JsonPropertyName("rope_theta")] public double RopeTheta { get; init; } = 10000.0;
    [JsonPropertyName("rope_scaling")] public RopeScaling? RopeScaling { get; init; }
    [JsonPropertyName("max_position_embeddings")] public int MaxPositionEmbeddings { get; init; } = 32768;
    [JsonPropertyName("tie_word_embeddings")] public bool TieWordEmbeddings { get; init; }
    /// <summary>Qwen3's flag; Qwen2 always has q/k/v biases (and no flag in its config).</summary>
    [JsonPropertyName("attention_bias")] public bool? AttentionBiasFlag { get; init; }
    [JsonPropertyName("torch_dtype")] public string? TorchDtype { get; init; }
    [JsonPropertyName("initializer_range")] public double InitializerRange { get; init; } = 0.02;
    [JsonPropertyName("use_sliding_window")] public bool UseSlidingWindow { get; init; }
    [JsonPropertyName("bos_token_id")] public int? BosTokenId { get; init; }
    [JsonPropertyName("eos_token_id")] public JsonNode? EosTokenId { get; init; }

    /// <summary>Every other key of config.json, kept so that saving writes them back.</summary>
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    [JsonIgnore] public bool IsQwen3 => ModelType == "qwen3";
    [JsonIgnore] public int KeyValueHeads => NumKeyValueHeads ?? NumAttentionHeads;
    [JsonIgnore] public int HeadDim => HeadDimOverride ?? HiddenSize / NumAttentionHeads;
    /// <summary>Qwen2 projects q/k/v with bias; Qwen3 only when attention_bias is set.</summary>
    [JsonIgnore] public bool QkvBias => IsQwen3 ? AttentionBiasFlag ?? false : AttentionBiasFlag ?? true;
    /// <summary>o_proj has a bias only in Qwen3 with attention_bias (Qwen2's o_proj never has one).</summary>
    [JsonIgnore] public bool OutputBias => IsQwen3 && (AttentionBiasFlag ?? false);

    private static readonly JsonSerializerOptions SerializerOptions = new()
    {
        WriteIndented = true,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    public static QwenConfig FromDirectory(string directory) => FromFile(Path.Combine(directory, "config.json"));

    public static QwenConfig FromFile(string path)
    {
        if (!File.Exists(path))
            throw new QwenTuneException($"{path}: not found; a model folder needs the config.json Hugging Face writes.");
        QwenConfig? config;
        try
        {
            config = JsonSerializer.Deserialize<QwenConfig>(File.ReadAllText(path), SerializerOptions);
        }
        catch (JsonException e)
        {
            var where = e.Path is null ? "" : $" at '{e.Path.TrimStart('$', '.')}'";
            throw new QwenTuneException($"{path}: invalid config{where}: {e.Message}");
        }
        if (config is null)
            throw new QwenTuneException($"{path}: config.json is empty (null).");
        config.Validate(path);
        return config;
    }

    public string ToJson() => JsonSerializer.Serialize(this, SerializerOptions);

    private void Validate(string path)
    {
        if (ModelType is not ("qwen2" or "qwen3"))
            throw new QwenTuneException($"{path}: model_type '{ModelType}' is not supported; QwenTune trains qwen2 (Qwen2, Qwen2.5) and qwen3 dense models.");
        RequirePositive(path, "hidden_size", HiddenSize);
        RequirePositive(path, "intermediate_size", IntermediateSize);
        RequirePositive(path, "num_hidden_layers", NumHiddenLayers);
        RequirePositive(path, "num_attention_heads", NumAttentionHeads);
        RequirePositive(path, "num_key_value_heads", KeyValueHeads);
        RequirePositive(path, "vocab_size", VocabSize);
        RequirePositive(path, "head_dim", HeadDim);
        if (NumAttentionHeads % KeyValueHeads != 0)
            throw new QwenTuneException($"{path}: num_attention_heads ({NumAttentionHeads}) must be a multiple of num_key_value_heads ({KeyValueHeads}).");
        if (HeadDim % 2 != 0)
            throw new QwenTuneException($"{path}: head_dim ({HeadDim}) must be even for rotary embeddings.");
        if (HeadDimOverride is null && HiddenSize % NumAttentionHeads != 0)
            throw new QwenTuneException($"{path}: hidden_size ({HiddenSize}) is not divisible by num_attention_heads ({NumAttentionHeads}); give head_dim explicitly.");
        if (HiddenAct != "silu")
            throw new QwenTuneException($"{path}: hidden_act '{HiddenAct}' is not supported (Qwen models use 'silu').");
        if (UseSlidingWindow)
            throw new QwenTuneException($"{path}: use_sliding_window=true is not supported; Qwen2.5 releases ship with it off. Set it to false.");
        if (RmsNormEps <= 0 || RopeTheta <= 0)
            throw new QwenTuneException($"{path}: rms_norm_eps and rope_theta must be positive.");
        RopeScaling?.Validate(path);
    }

    private static void RequirePositive(string path, string key, int value)
    {
        if (value <= 0)
            throw new QwenTuneException($"{path}: '{key}' must be a positive integer (got {value}).");
    }
}

/// <summary>config.json's rope_scaling. Only "linear" (positions divided by factor) and "default" are supported.</summary>
public sealed record RopeScaling
{
    [JsonPropertyName("type")] public string? Type { get; init; }
    [JsonPropertyName("rope_type")] public string? RopeType { get; init; }
    [JsonPropertyName("factor")] public double Factor { get; init; } = 1.0;
    [JsonExtensionData] public Dictionary<string, JsonElement>? Extra { get; init; }

    [JsonIgnore] public string Kind => RopeType ?? Type ?? "default";

    internal void Validate(string path)
    {
        if (Kind is not ("linear" or "default"))
            throw new QwenTuneException($"{path}: rope_scaling type '{Kind}' is not supported; only 'linear' (and none) are. Remove rope_scaling or use a linear factor.");
        if (Kind == "linear" && Factor <= 0)
            throw new QwenTuneException($"{path}: rope_scaling.factor must be positive (got {Factor}).");
    }
}
