using QwenTune.Data;
using QwenTune.Training;
using static TorchSharp.torch;

namespace QwenTune.TestHost;

/// <summary>
/// Runs steps <paramref name="firstStep"/> to <paramref name="firstStep"/> + <paramref name="count"/> - 1 (numbered from 1,
/// as log rows are) with one trainable weight filled with NaN, so that their forward, loss and gradients are really
/// non-finite; the weight is put back after each, so a skipped step leaves the model exactly as it was.
/// </summary>
internal sealed class NanInjectingStepRunner(IStepRunner inner, Tensor poisoned, int firstStep, int count) : IStepRunner
{
    public StepMetrics Run(int step, IReadOnlyList<Batch> batches, double learningRate, double maxGradNorm, double epoch)
    {
        if (step + 1 < firstStep || step + 1 >= firstStep + count)
            return inner.Run(step, batches, learningRate, maxGradNorm, epoch);
        Console.Error.WriteLine($"[test host] step {step + 1}: NaN in a weight");
        using var saved = poisoned.detach().clone();
        using (no_grad())
            poisoned.fill_(double.NaN);
        try
        {
            return inner.Run(step, batches, learningRate, maxGradNorm, epoch);
        }
        finally
        {
            using (no_grad())
                poisoned.copy_(saved);
        }
    }
}
