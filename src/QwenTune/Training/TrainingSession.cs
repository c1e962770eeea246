using System.Text.Json;
using System.Text.Json.Nodes;
using QwenTune.Configuration;
using QwenTune.Distributed;
using QwenTune.Runtime;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// Assembles a training run from a <see cref="TrainingRequest"/>, as Qwen's finetune.py does with Hugging Face's
/// Trainer, in separate steps: checks, model (<see cref="ModelSetup"/>), data (<see cref="DataSetup"/>), optimizer
/// (<see cref="OptimizerSetup"/>), checkpointing and resume; then trains.
/// </summary>
public static class TrainingSession
{
    public static TrainSummary Run(TrainingRequest request, IReadOnlyList<ITrainerCallback> callbacks, TextWriter log)
    {
        using var run = Prepare(request, callbacks, log);
        return run.Train(log);
    }

    /// <summary>Everything up to the first step; the caller may replace parts (a benchmark, a test's checkpoint store) before training.</summary>
    public static PreparedRun Prepare(TrainingRequest request, IReadOnlyList<ITrainerCallback> callbacks, TextWriter log)
    {
        var training = request.Training;
        var collectives = new SingleProcess();
        var deepSpeed = training.DeepSpeed is { } dsPath ? DeepSpeedConfig.Load(dsPath) : null;
        deepSpeed?.Validate(training, collectives.WorldSize);
        if (deepSpeed is not null)
            log.WriteLine($"DeepSpeed config {deepSpeed.Path}: ZeRO stage {deepSpeed.ZeroStage}; one process, so nothing is sharded.");
        if (training.ReportTo.Any(r => r is not ("none" or "")))
            log.WriteLine($"report_to {string.Join(",", training.ReportTo)}: not available here; metrics go to stdout and trainer_state.json.");
        AdamWOptions.VariantFor(training.Optim);   // refuse an unsupported --optim before anything loads

        var environment = ComputeEnvironment.Resolve(request.Model.Device, training.Bf16, training.Fp16, training.TorchThreads);
        manual_seed(training.Seed);
        var resumeFrom = FindResumePoint(training);
        CheckpointStore.EnsureWritable(training.OutputDir);

        var model = ModelSetup.Create(request, environment, log);
        var data = DataSetup.Load(request.Data, training, model.Loaded, log);
        var updater = OptimizerSetup.Create(model.Model, training, collectives);
        var scaler = LossScalers.For(training.Fp16, deepSpeed);
        var store = new CheckpointStore(training.OutputDir, model.Writer(request.Model.MaxShardSize), updater,
            model.Model.Model.RandomGenerator, scaler, training.SaveTotalLimit, ArgumentsJson(request));

        var plan = TrainingPlan.For(data.Train.Count, training, collectives.WorldSize);
        var state = resumeFrom is null ? NewState(plan, training) : store.Restore(resumeFrom);
        if (resumeFrom is not null)
            log.WriteLine($"Resumed from {resumeFrom} at step {state.GlobalStep}.");
        ILrSchedule schedule = deepSpeed?.Scheduler is { } block
            ? DeepSpeedWarmupSchedule.From(block, training, plan.TotalSteps)
            : new LrSchedule(training.LrSchedulerType, training.LearningRate,
                LrSchedule.WarmupStepsFor(training.WarmupSteps, training.WarmupRatio, plan.TotalSteps), plan.TotalSteps);
        var padTokenId = model.Loaded.PadTokenId;
        var collator = new Data.Collator(padTokenId, request.Data.PadToMaxLength ? request.Data.ModelMaxLength : null);
        var parts = new TrainerParts(
            training, plan, schedule,
            new MicroBatchSource(data.Train, plan, collator, request.Data.GroupByLength && !request.Data.PadToMaxLength, training.Seed,
                collectives.Rank, collectives.WorldSize),
            new StepRunner(model.Model, updater, collectives, scaler),
            data.Eval is { } eval ? () => Evaluator.Evaluate(model.Model, eval, training.PerDeviceEvalBatchSize, padTokenId) : null,
            store, callbacks, model.FlopsPerToken);
        return new PreparedRun(parts, state, data, updater);
    }

    private static string? FindResumePoint(TrainingArguments training)
    {
        if (training.ResumeFromCheckpoint is { } explicitCheckpoint)
        {
            if (!Directory.Exists(explicitCheckpoint))
                throw new QwenTuneException($"--resume_from_checkpoint '{explicitCheckpoint}': no such folder.");
            return explicitCheckpoint;
        }
        return training.OverwriteOutputDir ? null : CheckpointStore.Latest(training.OutputDir);
    }

    private static TrainerState NewState(TrainingPlan plan, TrainingArguments training) => new()
    {
        MaxSteps = plan.TotalSteps,
        NumTrainEpochs = Math.Ceiling((double)plan.TotalSteps / plan.StepsPerEpoch),
        LoggingSteps = training.LoggingSteps,
        EvalSteps = training.EvalSteps ?? training.LoggingSteps,
        SaveSteps = training.SaveSteps,
        TrainBatchSize = training.PerDeviceTrainBatchSize,
    };

    private static JsonObject ArgumentsJson(TrainingRequest request)
    {
        var json = new JsonObject();
        foreach (object group in new object[] { request.Model, request.Data, request.Training, request.Lora })
        {
            foreach (var property in group.GetType().GetProperties())
            {
                if (property.GetCustomAttributes(typeof(OptionAttribute), false).FirstOrDefault() is OptionAttribute option)
                    json[option.Name] = JsonSerializer.SerializeToNode(property.GetValue(group));
            }
        }
        return json;
    }
}
