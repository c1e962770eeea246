using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// One AdamW update of a float32 tensor (a whole parameter, or a ZeRO shard's slice of one), element by element, so
/// sharded and unsharded optimizers give the same values for the same elements.
/// </summary>
internal static class AdamWMath
{
    /// <summary>
    /// torch.optim.AdamW (single-tensor path); with <see cref="AdamWVariant.TransformersLegacy"/>,
    /// transformers.optimization.AdamW (correct_bias=True) instead. <paramref name="step"/> counts from 1.
    /// </summary>
    public static void Update(Tensor target, Tensor expAvg, Tensor expAvgSq, Tensor grad, double learningRate, double decay, long step, AdamWOptions options)
    {
        var legacy = options.Variant == AdamWVariant.TransformersLegacy;
        if (decay != 0.0 && !legacy)
            target.mul_(1.0 - learningRate * decay);
        expAvg.lerp_(grad, 1.0 - options.Beta1);
        expAvgSq.mul_(options.Beta2).addcmul_(grad, grad, 1.0 - options.Beta2);
        var biasCorrection1 = 1.0 - Math.Pow(options.Beta1, step);
        var biasCorrection2Sqrt = Math.Sqrt(1.0 - Math.Pow(options.Beta2, step));
        if (legacy)
        {
            using var denominator = expAvgSq.sqrt().add_(options.Epsilon);
            target.addcdiv_(expAvg, denominator, -learningRate * biasCorrection2Sqrt / biasCorrection1);
            if (decay != 0.0)
                target.mul_(1.0 - learningRate * decay);
        }
        else
        {
            using var denominator = expAvgSq.sqrt().div_(biasCorrection2Sqrt).add_(options.Epsilon);
            target.addcdiv_(expAvg, denominator, -learningRate / biasCorrection1);
        }
    }
}
