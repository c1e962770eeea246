using System.Text.Json.Nodes;

namespace QwenTune.Training;

/// <summary>What one optimizer step did.</summary>
public sealed record StepMetrics(
    int Step, double Loss, double LearningRate, double GradNorm, long Targets, long Tokens, double Seconds, double Epoch, bool Skipped)
{
    /// <summary>Samples in the step, over all ranks.</summary>
    public long Samples { get; init; }

    /// <summary>The loss or the gradient norm was NaN or infinite: the step made no update.</summary>
    public bool NonFinite { get; init; }

    /// <summary>fp16: the scaled gradients overflowed, so the loss scaler skipped the step (and lowered the scale).</summary>
    public bool Overflow { get; init; }
}

/// <summary>The end-of-run summary (train_results.json plus where things went).</summary>
public sealed record TrainSummary(
    double TrainLoss, double RuntimeSeconds, long Samples, long Tokens, int Steps, long PeakRssBytes, string OutputDir)
{
    public double SamplesPerSecond => RuntimeSeconds > 0 ? Samples / RuntimeSeconds : 0;

    public double TokensPerSecond => RuntimeSeconds > 0 ? Tokens / RuntimeSeconds : 0;

    /// <summary>Steps skipped because their loss or gradient norm was not finite.</summary>
    public int SkippedSteps { get; init; }

    /// <summary>fp16 steps the loss scaler skipped on overflow.</summary>
    public int OverflowSteps { get; init; }

    /// <summary>When a signal stopped the run early: its number (15 SIGTERM, 2 SIGINT); 0 when the run finished.</summary>
    public int StoppedBySignal { get; init; }

    /// <summary>The checkpoint written when a signal stopped the run.</summary>
    public string? StopCheckpoint { get; init; }

    /// <summary>The checkpoint resumed from had reached max_steps and the final model was written: nothing was done.</summary>
    public bool AlreadyComplete { get; init; }

    /// <summary>The process's exit code: 0, or 128 + the signal's number (143 SIGTERM, 130 SIGINT).</summary>
    public int ExitCode => StoppedBySignal == 0 ? 0 : 128 + StoppedBySignal;
}

/// <summary>
/// Observers of the training loop: progress display, logging and checkpointing react to these events
/// instead of living as branches inside the loop.
/// </summary>
public interface ITrainerCallback
{
    void OnTrainBegin(TrainingPlan plan, int startStep) { }

    void OnStepEnd(StepMetrics metrics) { }

    /// <summary>A log_history row (training or evaluation) was recorded.</summary>
    void OnLog(JsonObject entry) { }

    void OnSave(string checkpointDirectory) { }

    void OnTrainEnd(TrainSummary summary) { }
}
