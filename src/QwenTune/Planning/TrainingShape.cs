using QwenTune.Configuration;
using QwenTune.Models;
using QwenTune.Peft;

namespace QwenTune.Planning;

/// <summary>
/// What decides a run's memory and work, taken from the `train` flags without loading any weight: the architecture
/// (config.json), what trains, the dtype, the micro-batch, checkpointing and how ZeRO shares the state among ranks.
/// </summary>
public sealed record TrainingShape
{
    public required QwenConfig Config { get; init; }

    public TuningMode Mode { get; init; }

    /// <summary>Bytes per element of the model's weights and activations: 4 for float32, 2 for --bf16 / --fp16.</summary>
    public int ElementBytes { get; init; } = 4;

    public string DtypeName { get; init; } = "float32";

    /// <summary>
    /// bf16 on libtorch's own bf16 products (not widened to float32 GEMMs): the loss head keeps bf16 logits, and
    /// attention over short sequences keeps its weights (<see cref="Models.BFloat16Products"/>).
    /// </summary>
    public bool NativeBFloat16 => DtypeName == "bfloat16" && !Models.BFloat16Products.WidenOnCpu;

    public int LoraRank { get; init; } = 64;

    public IReadOnlyList<string> LoraTargets { get; init; } = LoraConfig.AllProjections;

    public double LoraDropout { get; init; } = 0.05;

    public string LoraBias { get; init; } = "none";

    /// <summary>The ZeRO stage the ranks share state by; 0 also for a single process (nothing is sharded).</summary>
    public int ZeroStage { get; init; }

    /// <summary>ZeRO-3 keeps tensors with fewer elements than this whole on every rank.</summary>
    public long PersistenceThreshold { get; init; } = ZeroSettings.None.PersistenceThreshold;

    public long ReduceBucketSize { get; init; } = ZeroSettings.None.ReduceBucketSize;

    public int WorldSize { get; init; } = 1;

    public int MicroBatchSize { get; init; } = 1;

    /// <summary>Tokens per sample; the estimate assumes every sample is this long and every token a target (the worst case).</summary>
    public int SequenceLength { get; init; } = 512;

    public bool GradientCheckpointing { get; init; }

    public long Tokens => (long)MicroBatchSize * SequenceLength;

    public bool BaseTrains => Mode == TuningMode.Full;

    /// <summary>
    /// The shape `train` would run with the same flags on <paramref name="worldSize"/> ranks. Reads config.json of
    /// --model_name_or_path and the --deepspeed file, nothing else.
    /// </summary>
    public static TrainingShape From(TrainingRequest request, int worldSize)
    {
        var (model, data, training, lora) = (request.Model, request.Data, request.Training, request.Lora);
        if (string.IsNullOrEmpty(model.ModelNameOrPath))
            throw new QwenTuneException("--model_name_or_path is required: a local Hugging Face model folder (only its config.json is read).");
        if (!Directory.Exists(model.ModelNameOrPath))
            throw new QwenTuneException($"--model_name_or_path '{model.ModelNameOrPath}': no such folder.");
        if (lora.QLora && !lora.UseLora)
            throw new QwenTuneException("--q_lora True needs --use_lora True (Q-LoRA trains LoRA adapters on a 4-bit base).");
        if (worldSize < 1)
            throw new QwenTuneException($"--world_size must be at least 1 (got {worldSize}).");
        if (training.PerDeviceTrainBatchSize < 1 || data.ModelMaxLength < 2)
            throw new QwenTuneException("--per_device_train_batch_size must be at least 1 and --model_max_length at least 2.");
        var config = QwenConfig.FromDirectory(model.ModelNameOrPath);
        var deepSpeed = training.DeepSpeed is { } path ? DeepSpeedConfig.Load(path) : null;
        var zero = worldSize > 1 ? deepSpeed?.Zero(config.HiddenSize) ?? ZeroSettings.None : ZeroSettings.None;
        if (zero.Stage == 3 && lora.QLora)
            throw new QwenTuneException("--q_lora with ZeRO-3 is not supported (train refuses it): use ds_config_zero2.json.");
        var loraConfig = new LoraConfig { R = lora.LoraR, Dropout = lora.LoraDropout, TargetModules = lora.LoraTargetModules, Bias = lora.LoraBias };
        if (lora.UseLora)
            loraConfig.Validate();
        return new TrainingShape
        {
            Config = config,
            Mode = lora.QLora ? TuningMode.QLora : lora.UseLora ? TuningMode.Lora : TuningMode.Full,
            ElementBytes = training.Bf16 || training.Fp16 ? 2 : 4,
            DtypeName = training.Bf16 ? "bfloat16" : training.Fp16 ? "float16" : "float32",
            LoraRank = loraConfig.R,
            LoraTargets = loraConfig.TargetModules,
            LoraDropout = loraConfig.Dropout,
            LoraBias = loraConfig.Bias,
            ZeroStage = zero.Stage,
            PersistenceThreshold = zero.PersistenceThreshold,
            ReduceBucketSize = zero.ReduceBucketSize,
            WorldSize = worldSize,
            MicroBatchSize = training.PerDeviceTrainBatchSize,
            SequenceLength = data.ModelMaxLength,
            GradientCheckpointing = training.GradientCheckpointing,
        };
    }
}
