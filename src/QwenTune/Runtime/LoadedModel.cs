using QwenTune.Checkpoints;
using QwenTune.Configuration;
using QwenTune.Hub;
using QwenTune.Models;
using QwenTune.Peft;
using QwenTune.Text;
using static TorchSharp.torch;

namespace QwenTune.Runtime;

/// <summary>A model folder loaded for use: the model, its tokenizer and its chat template.</summary>
public sealed record LoadedModel(string Directory, QwenForCausalLM Model, QwenTokenizer Tokenizer, ChatTemplate Template)
{
    /// <summary>
    /// What --model_name_or_path names (a folder, or a Hub id resolved through the Hugging Face cache) is fetched if
    /// need be and loaded; <see cref="NameOrPath"/> keeps the name as given (adapters record it as their base model).
    /// </summary>
    public static LoadedModel Load(ModelArguments model, ComputeEnvironment environment, TextWriter log,
        QwenModelOptions? options = null, IProgress<HubTransfer>? progress = null)
    {
        var directory = ModelLocation.Resolve(model.ModelNameOrPath, model.ModelRevision, model.CacheDir, log, progress: progress);
        return Load(directory, environment, options) with { NameOrPath = model.ModelNameOrPath! };
    }

    /// <summary>The model as the user named it: a folder, or a Hub id.</summary>
    public string NameOrPath { get; init; } = Directory;

    /// <summary>
    /// Loads tokenizer and template first (cheap, and template syntax errors surface before the weights load),
    /// then the weights in <paramref name="environment"/>'s dtype, quantised to NF4 when asked.
    /// </summary>
    public static LoadedModel Load(string? directory, ComputeEnvironment environment, QwenModelOptions? options = null)
    {
        if (string.IsNullOrEmpty(directory))
            throw new QwenTuneException("--model_name_or_path is required: a local Hugging Face model folder or a Hub id.");
        if (!System.IO.Directory.Exists(directory))
            throw new QwenTuneException($"--model_name_or_path '{directory}': no such folder.");
        var tokenizer = QwenTokenizer.FromDirectory(directory);
        var template = ChatTemplate.For(tokenizer, Path.Combine(directory, "tokenizer_config.json"));
        var model = PretrainedModel.Load(directory, environment.Dtype, environment.Device, options);
        CheckVocabulary(model.Config, Path.Combine(directory, "config.json"), tokenizer);
        return new LoadedModel(directory, model, tokenizer, template);
    }

    /// <summary>
    /// Every id the tokenizer can produce needs an embedding row: a smaller vocab_size makes libtorch's embedding lookup
    /// abort the process. (A larger one is normal: Qwen pads vocab_size to a multiple of 128.)
    /// </summary>
    public static void CheckVocabulary(QwenConfig config, string configPath, QwenTokenizer tokenizer)
    {
        if (config.VocabSize < tokenizer.VocabSize)
            throw new QwenTuneException(
                $"{configPath}: vocab_size {config.VocabSize} is smaller than the tokenizer's {tokenizer.VocabSize} tokens (ids up to " +
                $"{tokenizer.VocabSize - 1}), which would have no embedding row. Use a vocab_size of at least {tokenizer.VocabSize} " +
                "(Qwen's configs use 151936) or a tokenizer of this model.");
    }

    /// <summary>The token that pads batches: pad_token, else eos_token.</summary>
    public int PadTokenId => Tokenizer.PadTokenId ?? Tokenizer.EosTokenId;

    /// <summary>Applies a saved PEFT adapter (for eval and merge).</summary>
    public LoraConfig ApplyAdapter(string adapterDirectory)
    {
        var config = PeftAdapter.ReadConfig(adapterDirectory);
        LoraInjector.Apply(Model, config, seed: 0);
        PeftAdapter.LoadWeights(adapterDirectory, Model, config);
        return config;
    }
}
