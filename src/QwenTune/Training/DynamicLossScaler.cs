using System.Globalization;

namespace QwenTune.Training;

/// <summary>
/// fp16 dynamic loss scaling as torch.cuda.amp.GradScaler does it (what Hugging Face's Trainer uses without
/// DeepSpeed): start at 2^16, halve and skip the step when gradients overflow, double after 2000 clean steps in a row.
/// </summary>
public sealed class DynamicLossScaler(double initialScale = 65536.0, int growthInterval = 2000) : ILossScaler
{
    private int _cleanSteps;

    public double Scale { get; private set; } = initialScale;

    public void Update(bool overflowed)
    {
        if (overflowed)
        {
            Scale = Math.Max(1.0, Scale * 0.5);
            _cleanSteps = 0;
            return;
        }
        if (++_cleanSteps >= growthInterval)
        {
            Scale *= 2.0;
            _cleanSteps = 0;
        }
    }

    public IReadOnlyDictionary<string, string> State => new Dictionary<string, string>
    {
        ["loss_scale"] = Scale.ToString("R", CultureInfo.InvariantCulture),
        ["loss_scale_clean_steps"] = _cleanSteps.ToString(CultureInfo.InvariantCulture),
    };

    public void Restore(IReadOnlyDictionary<string, string> state)
    {
        if (state.TryGetValue("loss_scale", out var scale))
            Scale = double.Parse(scale, CultureInfo.InvariantCulture);
        _cleanSteps = int.Parse(state.GetValueOrDefault("loss_scale_clean_steps") ?? "0", CultureInfo.InvariantCulture);
    }
}
