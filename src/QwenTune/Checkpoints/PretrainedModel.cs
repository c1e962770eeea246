using System.Text.Json.Nodes;
using QwenTune.IO;
using QwenTune.Models;
using QwenTune.Text;
using static TorchSharp.torch;

namespace QwenTune.Checkpoints;

/// <summary>
/// Hugging Face model folders in and out: config.json + safetensors (single or sharded) + tokenizer files +
/// generation_config.json, as transformers' from_pretrained / save_pretrained read and write them.
/// </summary>
public static class PretrainedModel
{
    /// <summary>
    /// Builds the model from config.json directly in <paramref name="dtype"/> on <paramref name="device"/> and loads
    /// the weights strictly. With <see cref="QwenModelOptions.QuantizeLinears"/> each projection weight is read and
    /// quantised to NF4 one at a time, so peak memory stays near the 4-bit size.
    /// </summary>
    public static QwenForCausalLM Load(string directory, ScalarType dtype, Device device, QwenModelOptions? modelOptions = null)
    {
        var config = QwenConfig.FromDirectory(directory);
        var model = new QwenForCausalLM(config, dtype, device, modelOptions);
        LoadWeights(model, directory);
        return model;
    }

    /// <summary>
    /// Loads a Hugging Face checkpoint into an existing model, strictly: every base-model key must be there with its
    /// shape. LoRA adapters are not part of a model checkpoint and are left as they are.
    /// </summary>
    public static void LoadWeights(QwenForCausalLM model, string directory)
    {
        using var checkpoint = HfCheckpoint.Open(directory);
        var quantized = model.named_modules()
            .Where(m => m.module is QwenLinear { IsQuantized: true })
            .ToDictionary(m => m.name + ".weight", m => (QwenLinear)m.module);
        // A tied model has no lm_head module; some exporters still store the (identical) tensor.
        List<string> ignored = ["*rotary_emb.inv_freq", "*.lora_A.weight", "*.lora_B.weight", .. quantized.Keys];
        if (model.Config.TieWordEmbeddings)
            ignored.Add("lm_head.weight");
        checkpoint.LoadInto(model, new StrictLoadOptions { Ignored = ignored });
        foreach (var (key, layer) in quantized)
        {
            if (checkpoint.Find(key) is null)
                throw new QwenTuneException($"{directory}: the checkpoint has no tensor '{key}'.");
            using var weight = checkpoint.ReadTensor(key, model.Dtype);
            layer.SetQuantizedWeight(weight);
        }
    }

    /// <summary>
    /// Writes <paramref name="model"/> as a Hugging Face folder. Every file is written under a temporary name and
    /// renamed; tokenizer and generation files are copied from <paramref name="sourceDirectory"/> when present.
    /// </summary>
    public static void Save(QwenForCausalLM model, string directory, long maxShardSize, string? sourceDirectory)
    {
        Directory.CreateDirectory(directory);
        var dtype = model.Dtype;
        // The base model only: LoRA tensors belong in an adapter folder (merge them first to bake them in).
        var state = model.state_dict()
            .Where(kv => !kv.Key.EndsWith("inv_freq", StringComparison.Ordinal) && !kv.Key.Contains(".lora_", StringComparison.Ordinal))
            .ToList();
        HfCheckpoint.Save(directory, state, maxShardSize);
        var config = model.Config with { TorchDtype = DtypeName(dtype), Architectures = [model.Config.IsQwen3 ? "Qwen3ForCausalLM" : "Qwen2ForCausalLM"] };
        AtomicFile.WriteAllText(Path.Combine(directory, "config.json"), config.ToJson() + "\n");
        CopyCompanionFiles(sourceDirectory, directory, model.Config);
    }

    /// <summary>Copies tokenizer files and generation_config.json (or writes one from the config's token ids).</summary>
    public static void CopyCompanionFiles(string? sourceDirectory, string directory, QwenConfig config)
    {
        CopyFiles(sourceDirectory, directory, [.. QwenTokenizer.FilesToCopy, "generation_config.json"]);
        var generation = Path.Combine(directory, "generation_config.json");
        if (!File.Exists(generation))
        {
            AtomicFile.WriteJson(generation, new JsonObject { ["bos_token_id"] = config.BosTokenId, ["eos_token_id"] = config.EosTokenId?.DeepClone() });
        }
    }

    /// <summary>Copies the named files that exist in <paramref name="sourceDirectory"/>, each atomically.</summary>
    public static void CopyFiles(string? sourceDirectory, string directory, IEnumerable<string> names)
    {
        if (sourceDirectory is null || Path.GetFullPath(sourceDirectory) == Path.GetFullPath(directory))
            return;
        foreach (var name in names)
        {
            var source = Path.Combine(sourceDirectory, name);
            if (File.Exists(source))
                AtomicFile.WriteAllBytes(Path.Combine(directory, name), File.ReadAllBytes(source));
        }
    }

    public static string DtypeName(ScalarType dtype) => dtype switch
    {
        ScalarType.BFloat16 => "bfloat16",
        ScalarType.Float16 => "float16",
        _ => "float32",
    };

    /// <summary>config.json's torch_dtype as a ScalarType, or <paramref name="fallback"/> when absent or unknown.</summary>
    public static ScalarType ParseDtype(string? torchDtype, ScalarType fallback) => torchDtype switch
    {
        "bfloat16" => ScalarType.BFloat16,
        "float16" => ScalarType.Float16,
        "float32" => ScalarType.Float32,
        _ => fallback,
    };
}
