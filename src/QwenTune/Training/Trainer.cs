using System.Diagnostics;
using System.Text.Json.Nodes;
using QwenTune.Configuration;
using QwenTune.Data;

namespace QwenTune.Training;

/// <summary>Everything a training run is made of, assembled by <see cref="TrainingSession"/>.</summary>
public sealed record TrainerParts(
    TrainingArguments Args,
    TrainingPlan Plan,
    ILrSchedule Schedule,
    MicroBatchSource Batches,
    IStepRunner Steps,
    Func<EvalResult>? Evaluate,
    ICheckpointStore Checkpoints,
    IReadOnlyList<ITrainerCallback> Callbacks,
    double FlopsPerToken)
{
    /// <summary>SIGTERM / SIGINT: checked after every step (and its evaluation and save), so those complete first.</summary>
    public StopSignal Stop { get; init; } = StopSignal.None;
}

/// <summary>
/// The training loop: for each optimizer step, fetch its micro-batches, run the step, then let the
/// interval policies decide about logging, evaluation and saving. Nothing else lives here.
/// </summary>
public sealed class Trainer(TrainerParts parts)
{
    private readonly TrainingArguments _args = parts.Args;
    private readonly TrainingPlan _plan = parts.Plan;
    private readonly BestModelMetric _bestMetric = BestModelMetric.From(parts.Args);

    public TrainSummary Train(TrainerState state)
    {
        var schedule = parts.Schedule;
        var logEvery = Interval(_args.LoggingSteps);
        var saveEvery = _args.SaveStrategy == "steps" ? Interval(_args.SaveSteps) : 0;
        var evalEvery = _args.EvalStrategy == "steps" ? Interval(_args.EvalSteps ?? _args.LoggingSteps) : 0;
        var window = new LogWindow();
        var clock = Stopwatch.StartNew();
        long runTokens = 0, runSamples = 0;
        double runLossSum = 0;
        var runSteps = 0;
        var skips = new SkipCounter(_args.MaxSkippedSteps);
        if (state.GlobalStep >= _plan.TotalSteps && FinalModelIsAt(state.GlobalStep))
            return Summary(clock, 0, 0, 0, 0, skips) with { AlreadyComplete = true };
        Notify(c => c.OnTrainBegin(_plan, state.GlobalStep));
        Memory.KeepFreedPagesWithinStep();
        for (var step = state.GlobalStep; step < _plan.TotalSteps; step++)
        {
            Memory.BeforeStep();
            var batches = parts.Batches.ForStep(step);
            StepMetrics metrics;
            try
            {
                var epochAfter = (double)(step + 1) / _plan.StepsPerEpoch;
                metrics = parts.Steps.Run(step, batches, schedule.LearningRate(step), _args.MaxGradNorm, epochAfter);
            }
            finally
            {
                foreach (var b in batches)
                    b.Dispose();
                Memory.ReturnFreedPages();
            }
            runSamples += metrics.Samples;
            state.GlobalStep = step + 1;
            state.Epoch = metrics.Epoch;
            state.NumInputTokensSeen += metrics.Tokens;
            state.TotalFlos += parts.FlopsPerToken * metrics.Tokens;
            runTokens += metrics.Tokens;
            if (double.IsFinite(metrics.Loss))
            {
                runLossSum += metrics.Loss;
                runSteps++;
            }
            window.Add(metrics);
            Notify(c => c.OnStepEnd(metrics));
            skips.Add(metrics, () => CheckpointStore.Latest(_args.OutputDir, removeStale: false));
            var epochEnded = state.GlobalStep % _plan.StepsPerEpoch == 0 || state.GlobalStep == _plan.TotalSteps;
            if (IsDue(state.GlobalStep, logEvery) || state.GlobalStep == _plan.TotalSteps || (state.GlobalStep == 1 && _args.LoggingFirstStep))
                Record(state, window.Flush(state));
            if (IsDue(state.GlobalStep, evalEvery) || (epochEnded && _args.EvalStrategy == "epoch"))
                RunEvaluation(state);
            string? saved = null;
            if (IsDue(state.GlobalStep, saveEvery) || (epochEnded && _args.SaveStrategy == "epoch"))
                saved = SaveCheckpoint(state);
            if (state.GlobalStep < _plan.TotalSteps && parts.Stop.Agreed() is var signal and not 0)
            {
                return Summary(clock, runLossSum, runSteps, runSamples, runTokens, skips) with
                {
                    StoppedBySignal = signal, StopCheckpoint = saved ?? SaveCheckpoint(state),
                };
            }
        }
        var summary = Summary(clock, runLossSum, runSteps, runSamples, runTokens, skips);
        parts.Checkpoints.SaveFinal(state, summary);
        Notify(c => c.OnTrainEnd(summary));
        return summary;
    }

    private TrainSummary Summary(Stopwatch clock, double lossSum, int steps, long samples, long tokens, SkipCounter skips) =>
        new(steps > 0 ? lossSum / steps : double.NaN, clock.Elapsed.TotalSeconds, samples, tokens, steps, Memory.PeakRssBytes(), _args.OutputDir)
        {
            SkippedSteps = skips.Total, OverflowSteps = skips.Overflows,
        };

    /// <summary>
    /// Whether output_dir's final trainer_state.json is of <paramref name="step"/>: a rerun of a finished run then has
    /// nothing to do and leaves the folder alone (without it, the final save was cut short and is redone).
    /// </summary>
    private bool FinalModelIsAt(int step)
    {
        var path = Path.Combine(_args.OutputDir, "trainer_state.json");
        return File.Exists(path) && TrainerState.FromFile(path).GlobalStep >= step;
    }

    /// <summary>HF's rule: a value below 1 is a fraction of the total steps.</summary>
    private int Interval(double value) =>
        value <= 0 ? 0 : value < 1 ? Math.Max(1, (int)Math.Ceiling(value * _plan.TotalSteps)) : (int)value;

    private static bool IsDue(int step, int every) => every > 0 && step % every == 0;

    /// <summary>
    /// As HF's _save_checkpoint: best_model_checkpoint names a checkpoint only once one exists for the best evaluation's
    /// step, so it never points at a folder that was not written.
    /// </summary>
    private string SaveCheckpoint(TrainerState state)
    {
        if (state.BestGlobalStep == state.GlobalStep)
            state.BestModelCheckpoint = Path.Combine(_args.OutputDir, $"checkpoint-{state.GlobalStep}");
        var staged = parts.Checkpoints.Stage(state.GlobalStep, state);
        var saved = parts.Checkpoints.Commit(staged, state);
        Notify(c => c.OnSave(saved));
        return saved;
    }

    private void RunEvaluation(TrainerState state)
    {
        if (parts.Evaluate is null)
            return;
        var clock = Stopwatch.StartNew();
        var result = parts.Evaluate();
        var entry = new JsonObject
        {
            ["eval_loss"] = result.EvalLoss,
            ["eval_perplexity"] = result.Perplexity,
            ["eval_tokens"] = result.EvalTokens,
            ["eval_samples"] = result.EvalSamples,
            ["eval_runtime"] = Math.Round(clock.Elapsed.TotalSeconds, 4),
            ["epoch"] = state.Epoch,
            ["step"] = state.GlobalStep,
        };
        var metric = (double)entry[_bestMetric.Key]!;
        if (_bestMetric.Improves(metric, state.BestMetric))
        {
            state.BestMetric = metric;
            state.BestGlobalStep = state.GlobalStep;
        }
        Record(state, entry);
    }

    private void Record(TrainerState state, JsonObject? entry)
    {
        if (entry is null)
            return;
        state.LogHistory.Add(entry);
        Notify(c => c.OnLog(entry));
    }

    private void Notify(Action<ITrainerCallback> action)
    {
        foreach (var callback in parts.Callbacks)
            action(callback);
    }

    /// <summary>Averages the steps since the last log row, as HF logs the mean loss of the window.</summary>
    private sealed class LogWindow
    {
        private double _lossSum;
        private int _steps;
        private long _tokens;
        private double _seconds;
        private StepMetrics? _last;
        private int _skipped;
        private int _overflows;

        public void Add(StepMetrics metrics)
        {
            _skipped += metrics.NonFinite ? 1 : 0;
            _overflows += metrics.Overflow ? 1 : 0;
            if (double.IsFinite(metrics.Loss))
            {
                _lossSum += metrics.Loss;
                _steps++;
            }
            _tokens += metrics.Tokens;
            _seconds += metrics.Seconds;
            _last = metrics;
        }

        public JsonObject? Flush(TrainerState state)
        {
            if (_last is null)
                return null;
            var entry = new JsonObject
            {
                ["loss"] = _steps > 0 ? Math.Round(_lossSum / _steps, 6) : null,
                ["grad_norm"] = double.IsFinite(_last.GradNorm) ? _last.GradNorm : null,
                ["learning_rate"] = _last.LearningRate,
                ["tokens_per_second"] = _seconds > 0 ? Math.Round(_tokens / _seconds, 1) : 0,
                ["epoch"] = Math.Round(state.Epoch, 4),
                ["step"] = state.GlobalStep,
            };
            if (_skipped > 0)
            {
                entry["skipped"] = true;
                entry["skipped_steps"] = _skipped;
            }
            if (_overflows > 0)
                entry["loss_scale_overflows"] = _overflows;
            (_lossSum, _steps, _tokens, _seconds, _last, _skipped, _overflows) = (0, 0, 0, 0, null, 0, 0);
            return entry;
        }
    }
}
