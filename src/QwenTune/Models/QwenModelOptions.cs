using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>
/// How the model is built, beyond its architecture: with <see cref="QuantizeLinears"/> every projection of
/// the decoder layers stores its weight as 4-bit NF4 (Q-LoRA's base), filled by the loader tensor by tensor,
/// and norms are kept in float32 as PEFT's prepare_model_for_kbit_training does.
/// </summary>
public sealed record QwenModelOptions
{
    public static QwenModelOptions Default { get; } = new();

    public bool QuantizeLinears { get; init; }

    /// <summary>Norm weights stay float32 in a quantized model, else they share the model dtype.</summary>
    public ScalarType NormDtype(ScalarType dtype) => QuantizeLinears ? ScalarType.Float32 : dtype;
}
