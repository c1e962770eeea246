using QwenTune.Data;

namespace QwenTune.Training;

/// <summary>One optimizer step over its micro-batches (<see cref="StepRunner"/>; a test host wraps it to inject faults).</summary>
public interface IStepRunner
{
    StepMetrics Run(int step, IReadOnlyList<Batch> batches, double learningRate, double maxGradNorm, double epoch);
}
