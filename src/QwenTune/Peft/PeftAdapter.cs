using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenTune.Checkpoints;
using QwenTune.IO;
using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Peft;

/// <summary>
/// PEFT's adapter folder: adapter_config.json and adapter_model.safetensors, whose keys are the model's
/// parameter names under "base_model.model." with the adapter name dropped
/// (base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight, A [r, in], B [out, r]).
/// </summary>
public static class PeftAdapter
{
    public const string ConfigFileName = "adapter_config.json";
    public const string WeightsFileName = "adapter_model.safetensors";
    private const string KeyPrefix = "base_model.model.";

    /// <summary>The tensors PEFT's get_peft_model_state_dict keeps: adapters, plus biases by --lora_bias.</summary>
    public static IEnumerable<KeyValuePair<string, Tensor>> AdapterState(QwenForCausalLM model, LoraConfig config)
    {
        var adapted = model.named_modules().Where(m => m.module is QwenLinear { HasLora: true }).Select(m => m.name).ToHashSet();
        foreach (var (name, parameter) in model.named_parameters())
        {
            if (LoraInjector.IsTrainable(name, config.Bias, adapted))
                yield return new(KeyPrefix + name, parameter);
        }
    }

    public static void Save(string directory, QwenForCausalLM model, LoraConfig config, string? baseModelNameOrPath)
    {
        Directory.CreateDirectory(directory);
        var state = AdapterState(model, config).ToList();
        SafeTensorsWriter.Write(Path.Combine(directory, WeightsFileName), state, new Dictionary<string, string> { ["format"] = "pt" });
        AtomicFile.WriteJson(Path.Combine(directory, ConfigFileName), ConfigJson(config, baseModelNameOrPath));
    }

    public static JsonObject ConfigJson(LoraConfig config, string? baseModelNameOrPath)
    {
        return new JsonObject
        {
            ["alpha_pattern"] = new JsonObject(),
            ["auto_mapping"] = null,
            ["base_model_name_or_path"] = baseModelNameOrPath,
            ["bias"] = config.Bias,
            ["fan_in_fan_out"] = false,
            ["inference_mode"] = true,
            ["init_lora_weights"] = true,
            ["layers_pattern"] = null,
            ["layers_to_transform"] = null,
            ["lora_alpha"] = config.Alpha == Math.Floor(config.Alpha) ? JsonValue.Create((long)config.Alpha) : JsonValue.Create(config.Alpha),
            ["lora_dropout"] = config.Dropout,
            ["modules_to_save"] = null,
            ["peft_type"] = "LORA",
            ["r"] = config.R,
            ["rank_pattern"] = new JsonObject(),
            ["revision"] = null,
            ["target_modules"] = new JsonArray(config.TargetModules.Order(StringComparer.Ordinal).Select(t => (JsonNode?)t).ToArray()),
            ["task_type"] = "CAUSAL_LM",
            ["use_dora"] = false,
            ["use_rslora"] = config.UseRslora,
        };
    }

    /// <summary>Reads adapter_config.json, refusing what this implementation cannot honour.</summary>
    public static LoraConfig ReadConfig(string directory)
    {
        var path = Path.Combine(directory, ConfigFileName);
        if (!File.Exists(path))
            throw new QwenTuneException($"{directory}: not a PEFT adapter folder ({ConfigFileName} not found).");
        JsonObject json;
        try
        {
            json = JsonNode.Parse(File.ReadAllText(path)) as JsonObject ?? throw new QwenTuneException($"{path}: not a JSON object.");
        }
        catch (JsonException e)
        {
            throw new QwenTuneException($"{path}: malformed JSON: {e.Message}");
        }
        var type = json["peft_type"]?.GetValue<string>();
        if (type != "LORA")
            throw new QwenTuneException($"{path}: peft_type '{type}' is not supported (LORA only).");
        if (json["use_dora"]?.GetValue<bool>() == true)
            throw new QwenTuneException($"{path}: DoRA adapters (use_dora true) are not supported.");
        if (json["rank_pattern"] is JsonObject { Count: > 0 } || json["alpha_pattern"] is JsonObject { Count: > 0 })
            throw new QwenTuneException($"{path}: per-layer rank_pattern/alpha_pattern are not supported.");
        var targets = json["target_modules"] switch
        {
            JsonArray array => array.Select(t => t!.GetValue<string>()).ToList(),
            JsonValue value when value.TryGetValue<string>(out var text) => LoraConfig.AllProjections.Where(p => System.Text.RegularExpressions.Regex.IsMatch(p, text) || text == "all-linear").ToList(),
            _ => throw new QwenTuneException($"{path}: target_modules is missing."),
        };
        var config = new LoraConfig
        {
            R = Number(json, "r", path) is var r ? (int)r : 0,
            Alpha = Number(json, "lora_alpha", path),
            Dropout = json["lora_dropout"] is null ? 0 : Number(json, "lora_dropout", path),
            TargetModules = targets,
            Bias = json["bias"]?.GetValue<string>() ?? "none",
            UseRslora = json["use_rslora"]?.GetValue<bool>() ?? false,
        };
        try
        {
            config.Validate();
        }
        catch (QwenTuneException e)
        {
            throw new QwenTuneException($"{path}: {e.Message}");
        }
        return config;
    }

    /// <summary>
    /// Copies an adapter's tensors into a model that already has matching LoRA layers (and trainable biases).
    /// Every adapter key must exist in the model with the same shape, and every adapter layer of the model
    /// must be in the file.
    /// </summary>
    public static void LoadWeights(string directory, QwenForCausalLM model, LoraConfig config)
    {
        var path = Path.Combine(directory, WeightsFileName);
        if (!File.Exists(path))
            throw new QwenTuneException($"{directory}: {WeightsFileName} not found (adapter_model.bin pickles are not read; re-save with safe_serialization=True).");
        var expected = AdapterState(model, config).ToDictionary(kv => kv.Key, kv => kv.Value);
        using var reader = SafeTensorsReader.Open(path);
        var fileKeys = reader.Entries.Select(e => NormaliseKey(e.Name)).ToHashSet();
        var missing = expected.Keys.Where(k => !fileKeys.Contains(k) && k.Contains(".lora_", StringComparison.Ordinal)).ToList();
        if (missing.Count > 0)
            throw new QwenTuneException($"{path}: adapter lacks {missing.Count} tensor(s) the model expects, e.g. {missing[0]}.");
        using var noGrad = no_grad();
        var parameters = model.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        foreach (var entry in reader.Entries)
        {
            var key = NormaliseKey(entry.Name);
            if (!expected.TryGetValue(key, out var target))
            {
                // A bias saved by an adapter trained with another bias mode still belongs to the model.
                var parameterName = key[KeyPrefix.Length..];
                target = parameters.GetValueOrDefault(parameterName)
                    ?? throw new QwenTuneException($"{path}: tensor '{entry.Name}' matches no parameter of this model.");
            }
            if (!entry.Shape.SequenceEqual(target.shape))
                throw new QwenTuneException($"{path}: '{entry.Name}' has shape {entry.ShapeText}, the model expects [{string.Join(", ", target.shape)}].");
            reader.ReadInto(entry, target);
        }
    }

    /// <summary>PEFT writes keys without the adapter name; older files may carry ".default".</summary>
    private static string NormaliseKey(string key)
    {
        key = key.Replace(".lora_A.default.", ".lora_A.", StringComparison.Ordinal).Replace(".lora_B.default.", ".lora_B.", StringComparison.Ordinal);
        return key.StartsWith(KeyPrefix, StringComparison.Ordinal) ? key : KeyPrefix + key;
    }

    private static double Number(JsonObject json, string key, string path)
    {
        if (json[key] is JsonValue value && value.TryGetValue<double>(out var number))
            return number;
        throw new QwenTuneException($"{path}: '{key}' must be a number.");
    }
}
