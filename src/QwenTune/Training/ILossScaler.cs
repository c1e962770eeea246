using QwenTune.Configuration;

namespace QwenTune.Training;

/// <summary>fp16 loss scaling: the factor the loss is multiplied by before backward, updated after every step.</summary>
public interface ILossScaler
{
    double Scale { get; }

    /// <param name="overflowed">Whether this step's gradients held an inf or NaN (the step was skipped).</param>
    void Update(bool overflowed);

    /// <summary>Everything needed to continue bit-identically after a resume, as checkpoint metadata.</summary>
    IReadOnlyDictionary<string, string> State { get; }

    void Restore(IReadOnlyDictionary<string, string> state);
}

/// <summary>Chooses the loss scaler: none unless fp16; DeepSpeed's when a DeepSpeed config is given (as under HF + DeepSpeed), else torch's GradScaler.</summary>
public static class LossScalers
{
    public static ILossScaler? For(bool fp16, DeepSpeedConfig? deepSpeed) =>
        !fp16 ? null
        : deepSpeed is null ? new DynamicLossScaler()
        : new DeepSpeedLossScaler(deepSpeed.LossScale);
}
