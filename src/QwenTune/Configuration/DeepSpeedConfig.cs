using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenTune.IO;

namespace QwenTune.Configuration;

/// <summary>
/// A DeepSpeed JSON config (ds_config_zero2.json / ds_config_zero3.json) read the way Hugging Face's
/// DeepSpeed integration reads it: "auto" values are filled from the training arguments, explicit values
/// must agree with them (a mismatch is an error naming both), an optimizer block must be AdamW, a
/// scheduler block (WarmupLR, WarmupDecayLR) replaces --lr_scheduler_type as it does under DeepSpeed, and the
/// fp16 block sets the loss scaler. This class only reads; the training layer builds schedules and scalers.
/// </summary>
public sealed class DeepSpeedConfig
{
    private readonly string _path;
    private readonly JsonObject _root;

    private DeepSpeedConfig(string path, JsonObject root)
    {
        _path = path;
        _root = root;
        ZeroStage = ReadInt(root["zero_optimization"]?["stage"], "zero_optimization.stage") ?? 0;
        if (ZeroStage is < 0 or > 3)
            throw new QwenTuneException($"{path}: zero_optimization.stage must be 0, 1, 2 or 3 (got {ZeroStage}).");
        Scheduler = ReadScheduler();
        LossScale = ReadLossScale();
    }

    public int ZeroStage { get; }

    /// <summary>
    /// The zero_optimization block for a model of <paramref name="hiddenSize"/>. Where "auto" is written, HF's values;
    /// where a key is absent, DeepSpeed's defaults (reduce_bucket_size 5e8, persistence threshold 1e5, overlap_comm off).
    /// </summary>
    public ZeroSettings Zero(int hiddenSize)
    {
        var block = _root["zero_optimization"] as JsonObject ?? [];
        var hiddenSquared = (long)hiddenSize * hiddenSize;
        return new ZeroSettings(
            ZeroStage,
            ReadAutoLong(block["reduce_bucket_size"], "zero_optimization.reduce_bucket_size", auto: hiddenSquared) ?? 500_000_000,
            ReadAutoLong(block["stage3_param_persistence_threshold"], "zero_optimization.stage3_param_persistence_threshold", auto: 10L * hiddenSize) ?? 100_000,
            block["overlap_comm"] is JsonValue overlap && overlap.TryGetValue<bool>(out var on) && on);
    }

    /// <summary>
    /// One line per thing the config asks that this build does not do, for a single warning at start: keys it does not
    /// know, tuning keys it reads but has no use for, and CPU offload (meaningful on CUDA; here all state is in host memory).
    /// </summary>
    public IReadOnlyList<string> Warnings()
    {
        var warnings = new List<string>();
        var unknown = _root.Select(kv => kv.Key).Where(k => !KnownTopLevelKeys.Contains(k)).ToList();
        if (_root["zero_optimization"] is JsonObject zero)
        {
            unknown.AddRange(zero.Select(kv => kv.Key).Where(k => !KnownZeroKeys.Contains(k) && !IgnoredZeroKeys.Contains(k)).Select(k => "zero_optimization." + k));
            var ignored = zero.Select(kv => kv.Key).Where(IgnoredZeroKeys.Contains).ToList();
            if (ignored.Count > 0)
                warnings.Add($"read but without effect here (memory and communication tuning of DeepSpeed's own engine): {string.Join(", ", ignored)}");
            foreach (var offload in new[] { "offload_optimizer", "offload_param" })
            {
                if (zero[offload]?["device"]?.GetValue<string>() is { } device && device != "none")
                    warnings.Add($"zero_optimization.{offload}.device {device}: a no-op on CPU, where optimizer state and parameters already live in host memory; not implemented for CUDA either");
            }
        }
        if (unknown.Count > 0)
            warnings.Add($"not recognised, ignored: {string.Join(", ", unknown)}");
        return warnings;
    }

    private static readonly HashSet<string> KnownTopLevelKeys =
    [
        "fp16", "bf16", "optimizer", "scheduler", "zero_optimization", "gradient_accumulation_steps", "gradient_clipping",
        "steps_per_print", "train_batch_size", "train_micro_batch_size_per_gpu", "wall_clock_breakdown", "zero_allow_untested_optimizer",
    ];

    private static readonly HashSet<string> KnownZeroKeys =
        ["stage", "reduce_bucket_size", "stage3_param_persistence_threshold", "overlap_comm", "offload_optimizer", "offload_param", "reduce_scatter"];

    private static readonly HashSet<string> IgnoredZeroKeys =
    [
        "allgather_partitions", "allgather_bucket_size", "contiguous_gradients", "sub_group_size", "stage3_prefetch_bucket_size",
        "stage3_max_live_parameters", "stage3_max_reuse_distance", "stage3_gather_16bit_weights_on_model_save", "round_robin_gradients",
    ];

    private long? ReadAutoLong(JsonNode? node, string key, long auto) =>
        node is JsonValue value && IsAuto(value) ? auto : ReadDouble(node, key) is { } d ? (long)d : null;

    /// <summary>The config's own scheduler block, when it has one.</summary>
    public DeepSpeedScheduler? Scheduler { get; }

    /// <summary>The fp16 block's loss-scaling settings (DeepSpeed's defaults where a key is absent).</summary>
    public DeepSpeedLossScale LossScale { get; }

    public string Path => _path;

    public static DeepSpeedConfig Load(string path)
    {
        if (!File.Exists(path))
            throw new QwenTuneException($"{path}: DeepSpeed config not found (--deepspeed).");
        try
        {
            var node = StrictJson.Parse(File.ReadAllBytes(path), new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
            return new DeepSpeedConfig(path, node as JsonObject ?? throw new QwenTuneException($"{path}: a DeepSpeed config must be a JSON object."));
        }
        catch (JsonException e)
        {
            throw new QwenTuneException(e.LineNumber is long line ? $"{path}:{line + 1}: malformed JSON: {e.Message}" : $"{path}: malformed JSON: {e.Message}");
        }
    }

    /// <summary>
    /// Checks the config against the arguments (HF's trainer_config_finalize): every value the config sets
    /// explicitly (not "auto") must equal the argument it stands for; throws listing every mismatch.
    /// </summary>
    public void Validate(TrainingArguments args, int worldSize)
    {
        var mismatches = new List<string>();
        Check(mismatches, "train_micro_batch_size_per_gpu", args.PerDeviceTrainBatchSize, "per_device_train_batch_size");
        Check(mismatches, "gradient_accumulation_steps", args.GradientAccumulationSteps, "gradient_accumulation_steps");
        Check(mismatches, "train_batch_size", (double)args.PerDeviceTrainBatchSize * args.GradientAccumulationSteps * worldSize,
            "per_device_train_batch_size x gradient_accumulation_steps x world_size");
        Check(mismatches, "gradient_clipping", args.MaxGradNorm, "max_grad_norm");
        CheckBool(mismatches, "bf16.enabled", _root["bf16"]?["enabled"], args.Bf16, "bf16");
        CheckBool(mismatches, "fp16.enabled", _root["fp16"]?["enabled"], args.Fp16, "fp16");
        if (_root["optimizer"] is JsonObject optimizer)
        {
            var type = optimizer["type"]?.GetValue<string>() ?? "";
            if (!type.Equals("AdamW", StringComparison.OrdinalIgnoreCase) && !type.Equals("Adam", StringComparison.OrdinalIgnoreCase))
                throw new QwenTuneException($"{_path}: optimizer.type '{type}' is not supported; QwenTune trains with AdamW.");
            var parameters = optimizer["params"];
            Check(mismatches, "optimizer.params.lr", args.LearningRate, "learning_rate", parameters?["lr"]);
            Check(mismatches, "optimizer.params.eps", args.AdamEpsilon, "adam_epsilon", parameters?["eps"]);
            Check(mismatches, "optimizer.params.weight_decay", args.WeightDecay, "weight_decay", parameters?["weight_decay"]);
            if (parameters?["betas"] is JsonArray { Count: 2 } betas)
            {
                Check(mismatches, "optimizer.params.betas[0]", args.AdamBeta1, "adam_beta1", betas[0]);
                Check(mismatches, "optimizer.params.betas[1]", args.AdamBeta2, "adam_beta2", betas[1]);
            }
        }
        if (mismatches.Count > 0)
            throw new QwenTuneException(
                $"{_path}: these DeepSpeed config values disagree with the command line; set them to \"auto\" or make them match:\n  " +
                string.Join("\n  ", mismatches));
    }

    private DeepSpeedScheduler? ReadScheduler()
    {
        if (_root["scheduler"] is not JsonObject scheduler)
            return null;
        var type = scheduler["type"]?.GetValue<string>() ?? "";
        if (type is not ("WarmupLR" or "WarmupDecayLR"))
            throw new QwenTuneException($"{_path}: scheduler.type '{type}' is not supported (WarmupLR, WarmupDecayLR; or remove the block to use --lr_scheduler_type).");
        var p = scheduler["params"] as JsonObject ?? [];
        var warmupType = p["warmup_type"]?.GetValue<string>() ?? "log";
        if (warmupType is not ("log" or "linear"))
            throw new QwenTuneException($"{_path}: scheduler.params.warmup_type '{warmupType}' must be 'log' or 'linear'.");
        return new DeepSpeedScheduler(
            type,
            ReadDouble(p["warmup_min_lr"], "scheduler.params.warmup_min_lr"),
            ReadDouble(p["warmup_max_lr"], "scheduler.params.warmup_max_lr"),
            ReadInt(p["warmup_num_steps"], "scheduler.params.warmup_num_steps"),
            warmupType,
            type == "WarmupDecayLR" ? ReadInt(p["total_num_steps"], "scheduler.params.total_num_steps") : null);
    }

    /// <summary>DeepSpeed's fp16 keys: loss_scale (0 = dynamic), initial_scale_power, loss_scale_window, hysteresis, min_loss_scale.</summary>
    private DeepSpeedLossScale ReadLossScale()
    {
        var fp16 = _root["fp16"] as JsonObject ?? [];
        var defaults = new DeepSpeedLossScale();
        var settings = new DeepSpeedLossScale
        {
            StaticScale = ReadDouble(fp16["loss_scale"], "fp16.loss_scale") ?? defaults.StaticScale,
            InitialScalePower = ReadInt(fp16["initial_scale_power"], "fp16.initial_scale_power") ?? defaults.InitialScalePower,
            ScaleWindow = ReadInt(fp16["loss_scale_window"], "fp16.loss_scale_window") ?? defaults.ScaleWindow,
            Hysteresis = ReadInt(fp16["hysteresis"], "fp16.hysteresis") ?? defaults.Hysteresis,
            ConsecutiveHysteresis = fp16["consecutive_hysteresis"] is JsonValue v && v.TryGetValue<bool>(out var consecutive) ? consecutive : defaults.ConsecutiveHysteresis,
            MinScale = ReadDouble(fp16["min_loss_scale"], "fp16.min_loss_scale") ?? defaults.MinScale,
        };
        if (settings.StaticScale < 0 || settings.ScaleWindow < 1 || settings.Hysteresis < 1 || settings.MinScale <= 0 || settings.InitialScalePower is < 0 or > 64)
            throw new QwenTuneException(
                $"{_path}: fp16 needs loss_scale >= 0, initial_scale_power in 0..64, loss_scale_window >= 1, hysteresis >= 1 and min_loss_scale > 0.");
        return settings;
    }

    private void Check(List<string> mismatches, string key, double expected, string argument, JsonNode? node = null)
    {
        node ??= key.Contains('.') ? null : _root[key];
        var value = ReadDouble(node, key);
        if (value is not null && Math.Abs(value.Value - expected) > 1e-12 * Math.Max(1, Math.Abs(expected)))
            mismatches.Add($"{key} = {value.Value.ToString(CultureInfo.InvariantCulture)}, but --{argument} = {expected.ToString(CultureInfo.InvariantCulture)}");
    }

    private static void CheckBool(List<string> mismatches, string key, JsonNode? node, bool expected, string argument)
    {
        if (node is JsonValue value && value.TryGetValue<bool>(out var enabled) && enabled != expected)
            mismatches.Add($"{key} = {enabled.ToString().ToLowerInvariant()}, but --{argument} = {expected}");
    }

    private double? ReadDouble(JsonNode? node, string key)
    {
        if (node is not JsonValue value || IsAuto(value))
            return null;
        if (value.TryGetValue<double>(out var number))
            return number;
        if (value.TryGetValue<string>(out var text) && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out number))
            return number;
        throw new QwenTuneException($"{_path}: {key} must be a number or \"auto\".");
    }

    private int? ReadInt(JsonNode? node, string key) => ReadDouble(node, key) is { } d ? (int)d : null;

    private static bool IsAuto(JsonValue value) => value.TryGetValue<string>(out var text) && text == "auto";
}
