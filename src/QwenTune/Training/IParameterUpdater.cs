using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>The outcome of one optimizer step: the global gradient norm before clipping.</summary>
public readonly record struct StepResult(double GradNorm, bool Skipped);

/// <summary>
/// Turns accumulated gradients into a parameter update. The trainer calls only this, so data parallelism
/// (gradient all-reduce) and ZeRO (sharded gradients and optimizer state) plug in here and nowhere else.
/// </summary>
public interface IParameterUpdater : IDisposable
{
    long StepCount { get; }

    void ZeroGrad();

    /// <summary>
    /// Makes every parameter whole until the result is disposed (ZeRO-3 gathers the sharded ones, on every rank),
    /// for saving the model.
    /// </summary>
    IDisposable GatherParameters() => NoOp.Instance;

    private sealed class NoOp : IDisposable
    {
        public static readonly NoOp Instance = new();

        public void Dispose()
        {
        }
    }

    /// <summary>One micro-batch's backward is done (sharded updaters reduce its gradients here).</summary>
    void AfterBackward()
    {
    }

    /// <param name="lossScale">The factor the loss was multiplied by before backward (fp16); gradients are divided by it.</param>
    StepResult Step(double learningRate, double maxGradNorm, double lossScale = 1.0);

    IEnumerable<KeyValuePair<string, Tensor>> StateTensors();

    void LoadState(long stepCount, Func<string, Tensor?> lookup, string source);
}
