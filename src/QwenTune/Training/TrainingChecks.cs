using System.Text.Json.Nodes;
using QwenTune.Configuration;

namespace QwenTune.Training;

/// <summary>
/// Values `train` refuses before loading anything: ranges HF's optimizer and schedulers would take silently but that
/// make no sense (a negative learning rate trains towards a higher loss), and an output folder that is the base model's.
/// </summary>
public static class TrainingChecks
{
    public static void Validate(TrainingRequest request)
    {
        var t = request.Training;
        // 0 is allowed: it saves what was loaded (a LoRA adapter re-saved, a checkpoint in the current layout).
        Require(t.LearningRate >= 0 && double.IsFinite(t.LearningRate), "learning_rate", t.LearningRate, "0 or more (a negative rate climbs the loss)");
        Require(t.WarmupRatio is >= 0 and <= 1, "warmup_ratio", t.WarmupRatio, "in [0, 1]");
        Require(t.WarmupSteps >= 0, "warmup_steps", t.WarmupSteps, "0 or more");
        Require(t.AdamBeta1 is >= 0 and < 1, "adam_beta1", t.AdamBeta1, "in [0, 1)");
        Require(t.AdamBeta2 is >= 0 and < 1, "adam_beta2", t.AdamBeta2, "in [0, 1)");
        Require(t.AdamEpsilon > 0 && double.IsFinite(t.AdamEpsilon), "adam_epsilon", t.AdamEpsilon, "a positive number");
        Require(t.WeightDecay >= 0 && double.IsFinite(t.WeightDecay), "weight_decay", t.WeightDecay, "0 or more");
        Require(t.MaxGradNorm >= 0 && double.IsFinite(t.MaxGradNorm), "max_grad_norm", t.MaxGradNorm, "0 (no clipping) or more");
        Require(t.MaxSkippedSteps >= 0, "max_skipped_steps", t.MaxSkippedSteps, "0 (never stop) or more");
        Require(request.Lora.LoraDropout is >= 0 and < 1, "lora_dropout", request.Lora.LoraDropout, "in [0, 1)");
        if (!t.OverwriteBaseModel && request.Model.ModelNameOrPath is { } modelPath && SameFolder(t.OutputDir, modelPath))
            throw new QwenTuneException(
                $"--output_dir '{t.OutputDir}' is the folder of --model_name_or_path: saving would overwrite the base model's weights " +
                "and config. Choose another --output_dir, or pass --overwrite_base_model True if that is what you want.");
    }

    /// <summary>The arguments that decide which samples each step sees and how they are cut: a resume must keep them.</summary>
    private static readonly string[] DataArguments = ["data_path", "model_max_length", "seed", "group_by_length", "train_on_prompt"];

    /// <summary>
    /// Compares the arguments of a resumed run with the checkpoint's training_args.json: a different data file, batch size
    /// or sequence length would continue a trajectory the checkpoint never was on (the skipped batches are other
    /// samples), so it is an error naming each change, unless --allow_resume_changes.
    /// </summary>
    public static void CompareWithCheckpoint(string checkpoint, JsonObject current, bool allowChanges, TextWriter log)
    {
        var path = Path.Combine(checkpoint, "training_args.json");
        if (!File.Exists(path) || JsonNode.Parse(File.ReadAllText(path)) is not JsonObject saved)
            return;
        var changes = DataArguments
            .Where(key => saved.ContainsKey(key) && !JsonNode.DeepEquals(saved[key], current[key]))
            .Select(key => $"--{key} {Show(saved[key])} -> {Show(current[key])}")
            .ToList();
        // The samples of a step depend on the global batch only, so a resume on another number of ranks may share it differently.
        if (GlobalBatch(saved) is var (before, beforeText) && GlobalBatch(current) is var (after, afterText) && before != after)
            changes.Add($"global batch {beforeText} -> {afterText}");
        if (changes.Count == 0)
            return;
        var list = string.Join(", ", changes);
        if (allowChanges)
        {
            log.WriteLine($"Resuming from {checkpoint} with changed data arguments ({list}); --allow_resume_changes given, so going ahead.");
            return;
        }
        throw new QwenTuneException(
            $"resuming from {checkpoint} with different data arguments than it was trained with: {list} (see {path}). " +
            "The steps after the resume would not continue the same run. Use the checkpoint's values, pass " +
            "--allow_resume_changes True to go ahead anyway, or --overwrite_output_dir True to start afresh.");
    }

    /// <summary>per_device_train_batch_size x gradient_accumulation_steps x world_size, and how it is made up.</summary>
    private static (long, string)? GlobalBatch(JsonObject args)
    {
        if (args["per_device_train_batch_size"] is not JsonValue batchValue || !batchValue.TryGetValue<int>(out var batch))
            return null;
        var accumulation = args["gradient_accumulation_steps"] is JsonValue a && a.TryGetValue<int>(out var steps) ? steps : 1;
        var ranks = args["world_size"] is JsonValue w && w.TryGetValue<int>(out var size) ? size : 1;
        var total = (long)batch * accumulation * ranks;
        return (total, $"{total} (--per_device_train_batch_size {batch} x --gradient_accumulation_steps {accumulation} x {ranks} rank(s))");
    }

    private static string Show(JsonNode? value) => value is null ? "(none)" : value.ToJsonString();

    private static void Require(bool ok, string flag, double value, string expected)
    {
        if (!ok)
            throw new QwenTuneException($"--{flag} {value.ToString(System.Globalization.CultureInfo.InvariantCulture)} is out of range: it must be {expected}.");
    }

    /// <summary>The same folder however spelled (relative, trailing separator, a symbolic link to it).</summary>
    private static bool SameFolder(string a, string b)
    {
        static string Resolve(string path)
        {
            var full = Path.TrimEndingDirectorySeparator(Path.GetFullPath(path));
            var info = new DirectoryInfo(full);
            return info.Exists && info.ResolveLinkTarget(returnFinalTarget: true) is { } target
                ? Path.TrimEndingDirectorySeparator(target.FullName)
                : full;
        }
        return string.Equals(Resolve(a), Resolve(b), OperatingSystem.IsWindows() ? StringComparison.OrdinalIgnoreCase : StringComparison.Ordinal);
    }
}
