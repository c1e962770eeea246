namespace QwenTune.Training;

/// <summary>
/// fp16 dynamic loss scaling as torch.cuda.amp.GradScaler does it: start at 2^16, halve and skip the step
/// when gradients overflow, double after 2000 clean steps in a row.
/// </summary>
public sealed class DynamicLossScaler(double initialScale = 65536.0, int growthInterval = 2000)
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

    public (double Scale, int CleanSteps) State => (Scale, _cleanSteps);

    public void Restore(double scale, int cleanSteps)
    {
        Scale = scale;
        _cleanSteps = cleanSteps;
    }
}
