namespace QwenTune.Configuration;

/// <summary>
/// fp16 loss scaling as a DeepSpeed config's fp16 block sets it, with DeepSpeed's defaults: a dynamic scale
/// (loss_scale 0) starting at 2^initial_scale_power, halved (not below min_loss_scale) after `hysteresis`
/// overflows, doubled after loss_scale_window clean steps; or a static scale when loss_scale > 0.
/// </summary>
public sealed record DeepSpeedLossScale
{
    public double StaticScale { get; init; }

    public int InitialScalePower { get; init; } = 16;

    public int ScaleWindow { get; init; } = 1000;

    public int Hysteresis { get; init; } = 2;

    public bool ConsecutiveHysteresis { get; init; }

    public double MinScale { get; init; } = 1;
}
