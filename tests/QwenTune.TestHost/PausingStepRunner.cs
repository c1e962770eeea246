using QwenTune.Data;
using QwenTune.Training;

namespace QwenTune.TestHost;

/// <summary>
/// Pauses in the middle of step <paramref name="pauseStep"/> (numbered from 1), after its forward and backward have
/// started, and says so on stderr, so a test can signal the process while a step is under way.
/// </summary>
internal sealed class PausingStepRunner(IStepRunner inner, int pauseStep, TimeSpan pause) : IStepRunner
{
    public StepMetrics Run(int step, IReadOnlyList<Batch> batches, double learningRate, double maxGradNorm, double epoch)
    {
        if (step + 1 == pauseStep)
        {
            Console.Error.WriteLine($"[test host] step {pauseStep} under way; pausing {pause.TotalSeconds}s");
            Thread.Sleep(pause);
        }
        return inner.Run(step, batches, learningRate, maxGradNorm, epoch);
    }
}
