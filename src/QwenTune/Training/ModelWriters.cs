using QwenTune.Checkpoints;
using QwenTune.Models;
using QwenTune.Peft;
using QwenTune.Text;

namespace QwenTune.Training;

/// <summary>Full fine-tuning: checkpoints and the final output are complete Hugging Face model folders.</summary>
public sealed class FullModelWriter(QwenForCausalLM model, string sourceDirectory, long maxShardSize) : IModelWriter
{
    public void WriteModel(string directory)
    {
        PretrainedModel.Save(model, directory, maxShardSize, sourceDirectory);
        // A LoRA run's adapter left in the folder (--overwrite_output_dir) would be applied on top of this model by loaders.
        StaleFiles.Remove(directory, "adapter_config.json", "adapter_model.safetensors", "adapter_model.bin");
    }

    public void ReadModel(string directory) => PretrainedModel.LoadWeights(model, directory);
}

/// <summary>
/// LoRA and Q-LoRA: checkpoints and the final output hold the PEFT adapter (plus tokenizer files), not the base.
/// <paramref name="baseModelName"/> is what adapter_config.json records (a Hub id stays a Hub id, as PEFT writes it).
/// </summary>
public sealed class AdapterWriter(QwenForCausalLM model, LoraConfig config, string baseModelPath, string? baseModelName = null) : IModelWriter
{
    public void WriteModel(string directory)
    {
        PeftAdapter.Save(directory, model, config, baseModelName ?? baseModelPath);
        PretrainedModel.CopyFiles(baseModelPath, directory, QwenTokenizer.FilesToCopy);
        // A full run's weights left in the folder (--overwrite_output_dir) would be loaded instead of base + adapter;
        // never the base model's own (--overwrite_base_model with output_dir = model_name_or_path).
        if (Path.GetFullPath(directory).TrimEnd(Path.DirectorySeparatorChar) != Path.GetFullPath(baseModelPath).TrimEnd(Path.DirectorySeparatorChar))
            StaleFiles.Remove(directory, ["model.safetensors", "model.safetensors.index.json", .. StaleFiles.Shards(directory)]);
    }

    public void ReadModel(string directory) => PeftAdapter.LoadWeights(directory, model, config);
}
