using System.Text.Json;
using System.Text.Json.Nodes;
using QwenTune.Configuration;
using QwenTune.Distributed;
using QwenTune.Models;
using QwenTune.IO;
using QwenTune.Reporting;
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
    /// <param name="handleSignals">Stop on SIGTERM / SIGINT with a checkpoint (the CLI); in-process callers leave signals alone.</param>
    public static TrainSummary Run(TrainingRequest request, IReadOnlyList<ITrainerCallback> callbacks, TextWriter log, bool handleSignals = false)
    {
        var run = Prepare(request, callbacks, log, handleSignals);
        TrainSummary summary;
        try
        {
            summary = run.Train(log);
        }
        catch
        {
            run.Abandon();
            throw;
        }
        run.Dispose();
        return summary;
    }

    /// <summary>
    /// Everything up to the first step; the caller may replace parts (a benchmark, a test's checkpoint store) before
    /// training. Under mpirun or srun each rank calls this: rank 0 alone logs, calls <paramref name="callbacks"/> and writes.
    /// </summary>
    public static PreparedRun Prepare(TrainingRequest request, IReadOnlyList<ITrainerCallback> callbacks, TextWriter log, bool handleSignals = false)
    {
        var training = request.Training;
        TrainingChecks.Validate(request);
        var distributed = DistributedEnvironment.Detect();
        var environment = ComputeEnvironment.Resolve(request.Model.Device, training.Bf16, training.Fp16, training.TorchThreads, distributed);
        var collectives = Collectives.Create(distributed, environment.Device, log);
        if (collectives.Rank != 0)
            (log, callbacks) = (TextWriter.Null, []);
        log.WriteLine(environment.Describe());
        if (!environment.IsCuda && Planning.FitCheck.Warning(request, collectives.WorldSize, distributed.LocalWorldSize, Memory.AvailableBytes()) is { } tooLarge)
            log.WriteLine(tooLarge);
        // On failure the collectives are not finalized: MPI_Finalize waits for ranks that may be blocked in a collective
        // this rank will never join. The process exits non-zero instead, and mpirun ends the whole job.
        // Only rank 0 writes into output_dir, so it alone holds the folder's lock; it is taken before anything there is
        // read or cleaned, and released when the run ends, however it ends.
        if (collectives.Rank == 0)
            CheckpointStore.EnsureWritable(training.OutputDir);
        var runLock = collectives.Rank == 0 ? RunLock.Acquire(training.OutputDir, log) : null;
        try
        {
            var run = Prepare(request, callbacks, log, environment, collectives);
            return run with
            {
                Parts = run.Parts with { Stop = handleSignals ? StopSignal.Listen(log, collectives) : StopSignal.None },
                Lock = runLock,
            };
        }
        catch
        {
            runLock?.Dispose();
            throw;
        }
    }

    private static PreparedRun Prepare(TrainingRequest request, IReadOnlyList<ITrainerCallback> callbacks, TextWriter log,
        ComputeEnvironment environment, ICollectives collectives)
    {
        var training = request.Training;
        var deepSpeed = training.DeepSpeed is { } dsPath ? DeepSpeedConfig.Load(dsPath) : null;
        deepSpeed?.Validate(training, collectives.WorldSize);
        foreach (var warning in deepSpeed?.Warnings() ?? [])
            log.WriteLine($"DeepSpeed config {deepSpeed!.Path}: {warning}");
        var tensorBoard = ReportTargets.WantsTensorBoard(training.ReportTo);
        if (training.LoggingDir is not null && !tensorBoard)
            log.WriteLine("--logging_dir is where TensorBoard event files go; nothing is written there without --report_to tensorboard.");
        BestModelMetric.From(training);
        if (training.MetricForBestModel is { } metric && !metric.EndsWith("loss", StringComparison.Ordinal) && training.GreaterIsBetter is null)
            log.WriteLine($"--metric_for_best_model {metric}: greater is better, as HF defaults for a metric not ending in 'loss'; pass --greater_is_better False if lower is better.");
        if (training.LocalRank != -1)
            log.WriteLine($"--local_rank {training.LocalRank} is ignored: each rank takes its place from mpirun's or srun's environment (rank {collectives.Rank} of {collectives.WorldSize} here).");
        if (Tf32Setting.Apply(training.Tf32, environment) is { } tf32Line)
            log.WriteLine(tf32Line);
        if (environment.Dtype == ScalarType.BFloat16 && !environment.IsCuda && BFloat16Products.WidenOnCpu)
            log.WriteLine($"bf16: this CPU has no AVX512-BF16/AMX, so bf16 products run on float32 GEMMs (same numerics, about 100x faster " +
                $"than libtorch's fallback; {BFloat16Products.EnvironmentVariable}=native turns this off).");
        AdamWOptions.VariantFor(training.Optim);   // refuse an unsupported --optim before anything loads
        if (deepSpeed?.ZeroStage == 3 && request.Lora.QLora)
            throw new QwenTuneException(
                "--q_lora with ZeRO-3 is not supported: ZeRO-3 shards parameters by slicing their storage, and NF4 weights are packed " +
                "4-bit blocks with their own constants. Use ds_config_zero2.json (the adapters are small; ZeRO-2 shards their optimizer state).");

        manual_seed(training.Seed);
        var resumeFrom = FindResumePoint(training, removeStale: collectives.Rank == 0);

        var model = ModelSetup.Create(request, environment, log, collectives.Rank);
        var data = DataSetup.Load(request.Data, training, model.Loaded, log);
        var zero = collectives.WorldSize == 1 ? null : deepSpeed?.Zero(model.Model.Config.HiddenSize) ?? ZeroSettings.None;
        var updater = OptimizerSetup.Create(model.Model, training, collectives, zero);
        if (zero is not null)
            log.WriteLine($"Data parallel over {collectives.WorldSize} ranks, ZeRO stage {zero.Stage}" +
                          (zero.Stage == 3 ? $" (tensors under {zero.PersistenceThreshold:N0} elements kept whole)" : "") +
                          $", reduce buckets of {zero.ReduceBucketSize:N0} elements, overlap_comm {(zero.OverlapComm ? "on" : "off")}.");
        else if (deepSpeed is not null)
            log.WriteLine($"DeepSpeed config {deepSpeed.Path}: ZeRO stage {deepSpeed.ZeroStage}; one process, so nothing is sharded.");
        var scaler = LossScalers.For(training.Fp16, deepSpeed);
        var store = new CheckpointStore(collectives, training.OutputDir, model.Writer(request.Model.MaxShardSize), updater,
            model.Model.Model.RandomGenerator, scaler, training.SaveTotalLimit, ArgumentsJson(request, collectives.WorldSize), training.SaveOnlyModel, training.LoadBestModelAtEnd);
        if (tensorBoard && collectives.Rank == 0)
            callbacks = [.. callbacks, TensorBoardFor(request, model.Model.Config, collectives.WorldSize, log)];

        var plan = TrainingPlan.For(data.Train.Count, training, collectives.WorldSize);
        if (resumeFrom is not null)
            TrainingChecks.CompareWithCheckpoint(resumeFrom, ArgumentsJson(request, collectives.WorldSize), training.AllowResumeChanges, log);
        var state = resumeFrom is null ? NewState(plan, training) : store.Restore(resumeFrom);
        if (resumeFrom is not null)
            log.WriteLine($"Resumed from {resumeFrom} at step {state.GlobalStep}.");
        (updater as ZeroUpdater)?.Attach(model.Model.Model, training.GradientCheckpointing);
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
            data.Eval is { } eval ? () => Evaluator.Evaluate(model.Model, eval, training.PerDeviceEvalBatchSize, padTokenId, collectives) : null,
            store, callbacks, model.FlopsPerToken);
        return new PreparedRun(parts, state, data, updater, collectives);
    }

    private static TensorBoardCallback TensorBoardFor(TrainingRequest request, Models.QwenConfig config, int worldSize, TextWriter log)
    {
        var training = request.Training;
        var logDir = training.LoggingDir ?? TensorBoardCallback.DefaultLoggingDir(training.OutputDir, DateTime.Now, Environment.MachineName);
        log.WriteLine($"TensorBoard event files go to {logDir} (tensorboard --logdir {Path.GetDirectoryName(Path.GetFullPath(logDir))}).");
        return new TensorBoardCallback(logDir, ArgumentsJson(request, worldSize), JsonSerializer.Serialize(config, IndentedJson));
    }

    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    private static string? FindResumePoint(TrainingArguments training, bool removeStale)
    {
        if (training.ResumeFromCheckpoint is { } explicitCheckpoint)
        {
            if (!Directory.Exists(explicitCheckpoint))
                throw new QwenTuneException($"--resume_from_checkpoint '{explicitCheckpoint}': no such folder.");
            return explicitCheckpoint;
        }
        return training.OverwriteOutputDir ? null : CheckpointStore.Latest(training.OutputDir, removeStale);
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

    /// <summary>training_args.json: every flag's value, and the number of ranks (HF's world_size), which with the batch flags makes the global batch.</summary>
    private static JsonObject ArgumentsJson(TrainingRequest request, int worldSize)
    {
        var json = new JsonObject { ["world_size"] = worldSize };
        foreach (object group in new object[] { request.Model, request.Data, request.Training, request.Lora })
        {
            foreach (var property in group.GetType().GetProperties())
            {
                if (property.GetCustomAttributes(typeof(OptionAttribute), false).FirstOrDefault() is OptionAttribute option)
                    json[option.Name] = JsonSerializer.SerializeToNode(property.GetValue(group));
            }
        }
        json["run_name"] ??= request.Training.OutputDir;   // HF's default
        return json;
    }
}
