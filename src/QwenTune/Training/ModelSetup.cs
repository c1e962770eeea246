using System.Globalization;
using QwenTune.Checkpoints;
using QwenTune.Configuration;
using QwenTune.Models;
using QwenTune.Peft;
using QwenTune.Runtime;

namespace QwenTune.Training;

/// <summary>
/// The model a run trains, as finetune.py prepares it: loaded in the run's precision (NF4 projections for Q-LoRA),
/// LoRA adapters injected (fresh, or from --lora_weight_path), gradient checkpointing enabled, in train mode.
/// </summary>
public sealed record ModelSetup(LoadedModel Loaded, LoraConfig? Lora)
{
    public QwenForCausalLM Model => Loaded.Model;

    /// <param name="rank">This process's rank: LoRA adapters start equal on every rank, their dropout masks differ.</param>
    public static ModelSetup Create(TrainingRequest request, ComputeEnvironment environment, TextWriter log, int rank = 0)
    {
        var (model, lora, training) = (request.Model, request.Lora, request.Training);
        if (lora.QLora && !lora.UseLora)
            throw new QwenTuneException("--q_lora True needs --use_lora True (Q-LoRA trains LoRA adapters on a 4-bit base).");
        var loaded = LoadedModel.Load(model, environment, log, new QwenModelOptions { QuantizeLinears = lora.QLora });
        if (loaded.Template.IsFallback)
            log.WriteLine(Text.ChatTemplate.FallbackNote(loaded.Directory));
        var loraConfig = lora.UseLora ? LoraFor(lora, request.Given) : null;
        Prepare(loaded.Model, loraConfig, training.GradientCheckpointing, training.Seed);
        if (rank > 0)
            loaded.Model.Model.RandomGenerator?.manual_seed(training.Seed + rank);
        if (lora.LoraWeightPath is { Length: > 0 } adapterPath)
        {
            PeftAdapter.LoadWeights(adapterPath, loaded.Model, loraConfig!);
            log.WriteLine($"Starting from the adapter in {adapterPath} (r {loraConfig!.R}, alpha {loraConfig.Alpha}).");
        }
        if (loraConfig is not null)
            log.WriteLine(LoraInjector.TrainableParametersLine(loaded.Model));
        return new ModelSetup(loaded, loraConfig);
    }

    /// <summary>LoRA (when <paramref name="lora"/> is given), gradient checkpointing and train mode on a loaded model.</summary>
    public static void Prepare(QwenForCausalLM model, LoraConfig? lora, bool gradientCheckpointing, long seed)
    {
        if (lora is not null)
            LoraInjector.Apply(model, lora, seed);
        if (gradientCheckpointing)
        {
            CheckpointedLayer.Enable(model.Model);
            // HF's enable_input_require_grads: with a frozen embedding the checkpointed layers still need a graph.
            model.Model.InputRequiresGrad = !model.Model.EmbedTokens.weight!.requires_grad;
        }
        model.train();
    }

    /// <summary>
    /// Hugging Face's floating_point_ops estimate per input token: 6 x the parameters outside the embedding (forward
    /// 2 and backward 4 multiply-adds per weight), counting NF4 weights by their element count.
    /// </summary>
    public double FlopsPerToken
    {
        get
        {
            var dense = Model.named_parameters().Where(p => p.name != "model.embed_tokens.weight").Sum(p => p.parameter.numel());
            var quantized = Model.named_modules().Select(m => m.module).OfType<QwenLinear>()
                .Sum(l => l.QuantizedWeight?.NumElements ?? 0);
            return 6.0 * (dense + quantized);
        }
    }

    /// <summary>What checkpoints and the final output hold: the full model, or the adapter.</summary>
    public IModelWriter Writer(string maxShardSize) => Lora is null
        ? new FullModelWriter(Model, Loaded.Directory, ShardSize.Parse(maxShardSize))
        : new AdapterWriter(Model, Lora, Loaded.Directory, Loaded.NameOrPath);

    /// <summary>
    /// The adapter's shape: from the flags, or from --lora_weight_path's adapter_config.json. A flag given explicitly
    /// that disagrees with the adapter is an error: silently training another shape than asked is worse than stopping.
    /// </summary>
    private static LoraConfig LoraFor(LoraArguments lora, IReadOnlySet<string> given)
    {
        if (lora.LoraWeightPath is not { Length: > 0 } path)
        {
            return new LoraConfig
            {
                R = lora.LoraR, Alpha = lora.LoraAlpha, Dropout = lora.LoraDropout,
                TargetModules = lora.LoraTargetModules, Bias = lora.LoraBias, UseRslora = lora.UseRslora,
            };
        }
        var adapter = PeftAdapter.ReadConfig(path);
        var conflicts = new List<string>();
        void Compare(string flag, string asked, string saved)
        {
            if (given.Contains(flag) && asked != saved)
                conflicts.Add($"--{flag} {asked}, but the adapter has {saved}");
        }
        Compare("lora_r", lora.LoraR.ToString(CultureInfo.InvariantCulture), adapter.R.ToString(CultureInfo.InvariantCulture));
        Compare("lora_alpha", lora.LoraAlpha.ToString("R", CultureInfo.InvariantCulture), adapter.Alpha.ToString("R", CultureInfo.InvariantCulture));
        Compare("lora_target_modules", string.Join(",", lora.LoraTargetModules.Order()), string.Join(",", adapter.TargetModules.Order()));
        Compare("lora_bias", lora.LoraBias, adapter.Bias);
        Compare("use_rslora", lora.UseRslora.ToString(), adapter.UseRslora.ToString());
        if (conflicts.Count > 0)
            throw new QwenTuneException(
                $"--lora_weight_path {path}: its adapter_config.json disagrees with the command line:\n  {string.Join("\n  ", conflicts)}\n" +
                "Drop those flags (the adapter's values are used) or start from fresh adapters.");
        return adapter with { Dropout = lora.LoraDropout };
    }
}
