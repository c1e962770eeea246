using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// One AdamW update of a float32 tensor (a whole parameter, or a ZeRO shard's slice of one), element by element, so
/// sharded and unsharded optimizers give the same values for the same elements. CPU tensors take the one-pass
/// <see cref="FusedAdamW"/>; others (CUDA) the same arithmetic as libtorch ops.
/// </summary>
internal static class AdamWMath
{
    /// <summary>
    /// torch.optim.AdamW (single-tensor path); with <see cref="AdamWVariant.TransformersLegacy"/>,
    /// transformers.optimization.AdamW (correct_bias=True) instead. <paramref name="step"/> counts from 1. The gradient
    /// is read as <paramref name="grad"/> x <paramref name="gradFactor"/> (clipping and loss scale) and left unchanged;
    /// <paramref name="lowPrecisionCopy"/>, when given, receives the updated target in its dtype (the model's bf16
    /// parameter of a float32 master).
    /// </summary>
    public static void Update(Tensor target, Tensor expAvg, Tensor expAvgSq, Tensor grad, double gradFactor, double learningRate, double decay,
        long step, AdamWOptions options, Tensor? lowPrecisionCopy = null)
    {
        var legacy = options.Variant == AdamWVariant.TransformersLegacy;
        var biasCorrection1 = 1.0 - Math.Pow(options.Beta1, step);
        var biasCorrection2Sqrt = Math.Sqrt(1.0 - Math.Pow(options.Beta2, step));
        if (FusedAdamW.Supports(target, expAvg, expAvgSq, grad, lowPrecisionCopy))
        {
            var coefficients = new FusedAdamW.Coefficients(
                GradFactor: (float)gradFactor, Decay: (float)(1.0 - learningRate * decay),
                OneMinusBeta1: (float)(1.0 - options.Beta1), Beta2: (float)options.Beta2, OneMinusBeta2: (float)(1.0 - options.Beta2),
                BiasCorrection2Sqrt: (float)(legacy ? 1.0 : biasCorrection2Sqrt), Epsilon: (float)options.Epsilon,
                StepSize: (float)(legacy ? -learningRate * biasCorrection2Sqrt / biasCorrection1 : -learningRate / biasCorrection1));
            FusedAdamW.Update(target, expAvg, expAvgSq, grad, lowPrecisionCopy, coefficients, legacy);
            return;
        }
        using var scope = NewDisposeScope();
        var g = grad.to(ScalarType.Float32, copy: gradFactor != 1.0);
        if (gradFactor != 1.0)
            g.mul_(gradFactor);
        if (decay != 0.0 && !legacy)
            target.mul_(1.0 - learningRate * decay);
        expAvg.lerp_(g, 1.0 - options.Beta1);
        expAvgSq.mul_(options.Beta2).addcmul_(g, g, 1.0 - options.Beta2);
        if (legacy)
        {
            var denominator = expAvgSq.sqrt().add_(options.Epsilon);
            target.addcdiv_(expAvg, denominator, -learningRate * biasCorrection2Sqrt / biasCorrection1);
            if (decay != 0.0)
                target.mul_(1.0 - learningRate * decay);
        }
        else
        {
            var denominator = expAvgSq.sqrt().div_(biasCorrection2Sqrt).add_(options.Epsilon);
            target.addcdiv_(expAvg, denominator, -learningRate / biasCorrection1);
        }
        lowPrecisionCopy?.copy_(target);
    }

    /// <summary>Sum of the squares of a gradient's elements, in float64 (CPU: one pass, no temporaries).</summary>
    public static double SumOfSquares(Tensor grad)
    {
        if (FusedAdamW.SupportsNorm(grad))
            return FusedAdamW.SumOfSquares(grad);
        using var scope = NewDisposeScope();
        return grad.to(ScalarType.Float32).square().sum().to(ScalarType.Float64).item<double>();
    }
}
