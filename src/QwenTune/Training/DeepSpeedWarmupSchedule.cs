using QwenTune.Configuration;

namespace QwenTune.Training;

/// <summary>
/// DeepSpeed's WarmupLR (warm up, then constant) and WarmupDecayLR (warm up, then linear decay to zero at
/// total_num_steps), with their log or linear warmup: lr = min + (max - min) * gamma.
/// </summary>
public sealed class DeepSpeedWarmupSchedule(double minLr, double maxLr, int warmupSteps, string warmupType, int? totalSteps) : ILrSchedule
{
    // DeepSpeed clamps the warmup to at least 2 steps so that log(warmup) is positive.
    private readonly int _warmup = Math.Max(2, warmupSteps);

    /// <summary>The schedule of a config's scheduler block; "auto" values come from the arguments as HF fills them.</summary>
    public static DeepSpeedWarmupSchedule From(DeepSpeedScheduler block, TrainingArguments args, int totalSteps) => new(
        block.WarmupMinLr ?? 0.0,
        block.WarmupMaxLr ?? args.LearningRate,
        block.WarmupNumSteps ?? LrSchedule.WarmupStepsFor(args.WarmupSteps, args.WarmupRatio, totalSteps),
        block.WarmupType,
        block.Type == "WarmupDecayLR" ? block.TotalNumSteps ?? totalSteps : null);

    public double LearningRate(int step) => minLr + (maxLr - minLr) * Gamma(step);

    private double Gamma(int step)
    {
        if (step < _warmup)
            return warmupType == "log" ? Math.Log(step + 1) / Math.Log(_warmup) : (double)step / _warmup;
        if (totalSteps is { } total)
            return Math.Max(0.0, (double)(total - step) / Math.Max(1.0, total - _warmup));
        return 1.0;
    }
}
