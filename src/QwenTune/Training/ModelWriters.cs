using QwenTune.Checkpoints;
using QwenTune.Models;
using QwenTune.Peft;
using QwenTune.Text;

namespace QwenTune.Training;

/// <summary>Full fine-tuning: checkpoints and the final output are complete Hugging Face model folders.</summary>
public sealed class FullModelWriter(QwenForCausalLM model, string sourceDirectory, long maxShardSize) : IModelWriter
{
    public void WriteModel(string directory) => PretrainedModel.Save(model, directory, maxShardSize, sourceDirectory);

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
    }

    public void ReadModel(string directory) => PeftAdapter.LoadWeights(directory, model, config);
}
