namespace QwenTune.Training;

/// <summary>
/// Learning-rate multipliers with exactly the formulas of transformers/optimization.py (get_scheduler):
/// the optimizer step with 0-based index <c>step</c> uses <c>learning_rate * Multiplier(step)</c>.
/// </summary>
public sealed class LrSchedule : ILrSchedule
{
    private const double PolynomialLrEnd = 1e-7;   // HF's default lr_end for "polynomial"
    private const double PolynomialPower = 1.0;
    private readonly string _type;
    private readonly double _baseLearningRate;

    public LrSchedule(string type, double baseLearningRate, int warmupSteps, int totalSteps)
    {
        if (type is not ("linear" or "cosine" or "cosine_with_restarts" or "polynomial" or "constant" or "constant_with_warmup"))
            throw new QwenTuneException($"lr_scheduler_type '{type}' is not supported.");
        _type = type;
        _baseLearningRate = baseLearningRate;
        WarmupSteps = warmupSteps;
        TotalSteps = totalSteps;
    }

    public int WarmupSteps { get; }

    public int TotalSteps { get; }

    /// <summary>HF's get_warmup_steps: warmup_steps when positive, else ceil(total * warmup_ratio).</summary>
    public static int WarmupStepsFor(int warmupSteps, double warmupRatio, int totalSteps) =>
        warmupSteps > 0 ? warmupSteps : (int)Math.Ceiling(totalSteps * warmupRatio);

    public double LearningRate(int step) => _baseLearningRate * Multiplier(step);

    public double Multiplier(int step)
    {
        if (_type == "constant")
            return 1.0;
        if (step < WarmupSteps)
            return (double)step / Math.Max(1, WarmupSteps);
        var progress = (double)(step - WarmupSteps) / Math.Max(1, TotalSteps - WarmupSteps);
        return _type switch
        {
            "constant_with_warmup" => 1.0,
            "linear" => Math.Max(0.0, (double)(TotalSteps - step) / Math.Max(1, TotalSteps - WarmupSteps)),
            // num_cycles = 0.5: half a cosine from 1 to 0.
            "cosine" => Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * 0.5 * 2.0 * progress))),
            // num_cycles = 1 hard restart: one full decay, then 0.
            "cosine_with_restarts" => progress >= 1.0 ? 0.0 : Math.Max(0.0, 0.5 * (1.0 + Math.Cos(Math.PI * (1.0 * progress % 1.0)))),
            "polynomial" => Polynomial(step),
            _ => throw new InvalidOperationException(_type),
        };
    }

    private double Polynomial(int step)
    {
        if (step > TotalSteps)
            return PolynomialLrEnd / _baseLearningRate;
        var lrRange = _baseLearningRate - PolynomialLrEnd;
        var decaySteps = TotalSteps - WarmupSteps;
        var remaining = 1.0 - (double)(step - WarmupSteps) / decaySteps;
        return (lrRange * Math.Pow(remaining, PolynomialPower) + PolynomialLrEnd) / _baseLearningRate;
    }
}
