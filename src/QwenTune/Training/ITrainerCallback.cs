using System.Text.Json.Nodes;

namespace QwenTune.Training;

/// <summary>What one optimizer step did.</summary>
public sealed record StepMetrics(
    int Step, double Loss, double LearningRate, double GradNorm, long Targets, long Tokens, double Seconds, double Epoch, bool Skipped)
{
    /// <summary>Samples in the step, over all ranks.</summary>
    public long Samples { get; init; }
}

/// <summary>The end-of-run summary (train_results.json plus where things went).</summary>
public sealed record TrainSummary(
    double TrainLoss, double RuntimeSeconds, long Samples, long Tokens, int Steps, long PeakRssBytes, string OutputDir)
{
    public double SamplesPerSecond => RuntimeSeconds > 0 ? Samples / RuntimeSeconds : 0;

    public double TokensPerSecond => RuntimeSeconds > 0 ? Tokens / RuntimeSeconds : 0;
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
