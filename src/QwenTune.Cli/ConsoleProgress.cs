using System.Text.Json.Nodes;
using QwenTune.Training;

namespace QwenTune.Cli;

/// <summary>
/// Shows training progress: on a terminal a live bar (step/total, loss, lr, tokens/s, ETA) on stderr.
/// Log rows go to stdout as JSON lines (Hugging Face prints them as dicts), one per logging step, which is
/// what a log file or a pipe gets.
/// </summary>
internal sealed class ConsoleProgress(bool live) : ITrainerCallback
{
    private TrainingPlan? _plan;
    private int _startStep;
    private readonly System.Diagnostics.Stopwatch _clock = new();
    private double _lastLoss = double.NaN;

    /// <summary>A live bar only on a terminal that can redraw a line, and not with --disable_tqdm (plain lines then).</summary>
    public static bool IsLive(bool disableTqdm, bool errorRedirected, string? term) =>
        !disableTqdm && !errorRedirected && term is not (null or "dumb");

    public void OnTrainBegin(TrainingPlan plan, int startStep)
    {
        _plan = plan;
        _startStep = startStep;
        _clock.Restart();
        Console.Error.WriteLine(startStep > 0
            ? $"Resuming at step {startStep} of {plan.TotalSteps} ({plan.StepsPerEpoch} steps per epoch)."
            : $"Training {plan.TotalSteps} steps ({plan.StepsPerEpoch} per epoch, {plan.Samples} samples, batch {plan.BatchSize} x {plan.AccumulationSteps} accumulation).");
    }

    public void OnStepEnd(StepMetrics metrics)
    {
        if (double.IsFinite(metrics.Loss))
            _lastLoss = metrics.Loss;
        if (!live || _plan is null)
            return;
        var done = metrics.Step + 1;
        var fraction = (double)done / _plan.TotalSteps;
        const int width = 24;
        var filled = (int)(fraction * width);
        var elapsed = _clock.Elapsed.TotalSeconds;
        var perStep = elapsed / Math.Max(1, done - _startStep);
        var eta = TimeSpan.FromSeconds(perStep * (_plan.TotalSteps - done));
        var tokensPerSecond = metrics.Seconds > 0 ? metrics.Tokens / metrics.Seconds : 0;
        Console.Error.Write(
            $"\r[{new string('#', filled)}{new string('.', width - filled)}] {done}/{_plan.TotalSteps} loss {_lastLoss:F4} lr {metrics.LearningRate:E2} {tokensPerSecond:F0} tok/s ETA {eta:hh\\:mm\\:ss}   ");
    }

    public void OnLog(JsonObject entry)
    {
        if (live)
            Console.Error.Write("\r\u001b[K");   // clear the bar; it is redrawn after the next step
        Console.Out.WriteLine(entry.ToJsonString());
    }

    public void OnSave(string checkpointDirectory)
    {
        if (live)
            Console.Error.WriteLine();
        Console.Error.WriteLine($"Saved {checkpointDirectory}");
    }

    public void OnTrainEnd(TrainSummary summary)
    {
        if (live)
            Console.Error.WriteLine();
        Console.Error.WriteLine(
            $"Done: {summary.Steps} steps in {TimeSpan.FromSeconds(summary.RuntimeSeconds):hh\\:mm\\:ss}, {summary.Tokens:N0} tokens " +
            $"({summary.TokensPerSecond:F0} tokens/s), train_loss {summary.TrainLoss:F4}, peak RSS {summary.PeakRssBytes / 1048576.0:F0} MiB. " +
            (summary.SkippedSteps > 0 ? $"{summary.SkippedSteps} step(s) skipped for a non-finite loss or gradient norm. " : "") +
            (summary.OverflowSteps > 0 ? $"{summary.OverflowSteps} step(s) skipped by the fp16 loss scaler (overflow). " : "") +
            $"Model written to {Path.GetFullPath(summary.OutputDir)}");
    }
}
