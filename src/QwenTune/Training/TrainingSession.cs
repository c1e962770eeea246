using System.Text.Json;
using System.Text.Json.Nodes;
using QwenTune.Configuration;
using QwenTune.Data;
using QwenTune.Distributed;
using QwenTune.Models;
using QwenTune.Peft;
using QwenTune.Runtime;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// Assembles a training run from the four argument groups, as Qwen's finetune.py does with Hugging Face's
/// Trainer: load model and data, set up LoRA / Q-LoRA, precision and checkpointing, resume if output_dir
/// holds checkpoints, train, save.
/// </summary>
public static class TrainingSession
{
    public static TrainSummary Run(ModelArguments model, DataArguments data, TrainingArguments training, LoraArguments lora,
        IReadOnlyList<ITrainerCallback> callbacks, TextWriter log)
    {
        var dataPath = data.DataPath ?? throw new QwenTuneException("--data_path is required.");
        if (lora.QLora && !lora.UseLora)
            throw new QwenTuneException("--q_lora True needs --use_lora True (Q-LoRA trains LoRA adapters on a 4-bit base).");
        var collectives = new SingleProcess();
        var deepSpeed = training.DeepSpeed is { } dsPath ? DeepSpeedConfig.Load(dsPath) : null;
        deepSpeed?.Validate(training, collectives.WorldSize);
        if (deepSpeed is not null)
            log.WriteLine($"DeepSpeed config {deepSpeed.Path}: ZeRO stage {deepSpeed.ZeroStage}; one process, so nothing is sharded.");
        if (training.ReportTo.Any(r => r is not ("none" or "")))
            log.WriteLine($"report_to {string.Join(",", training.ReportTo)}: not available here; metrics go to stdout and trainer_state.json.");

        var environment = ComputeEnvironment.Resolve(model.Device, training.Bf16, training.Fp16, training.TorchThreads);
        manual_seed(training.Seed);
        var resumeFrom = FindResumePoint(training);
        CheckpointStore.EnsureWritable(training.OutputDir);

        var loaded = LoadedModel.Load(model.ModelNameOrPath, environment, new QwenModelOptions { QuantizeLinears = lora.QLora });
        var featurizer = new SftFeaturizer(loaded.Tokenizer, loaded.Template, data.ModelMaxLength, data.TrainOnPrompt);
        var trainData = ReadData(dataPath, data, featurizer, log);
        var evalExamples = data.EvalDataPath is { } evalPath
            ? new EagerSftDataset(ChatDataReader.Read(evalPath, data.SkipInvalidRecords).Samples, featurizer).Examples
            : null;
        if (training.EvalStrategy != "no" && evalExamples is null)
            throw new QwenTuneException($"--eval_strategy {training.EvalStrategy} needs --eval_data_path.");

        var loraConfig = lora.UseLora ? SetUpLora(loaded, lora, training.Seed, log) : null;
        if (training.GradientCheckpointing)
        {
            CheckpointedLayer.Enable(loaded.Model.Model);
            loaded.Model.Model.InputRequiresGrad = !loaded.Model.Model.EmbedTokens.weight!.requires_grad;
        }
        loaded.Model.train();

        var trainable = ParameterGroups.Trainable(loaded.Model);
        using var updater = new AdamWUpdater(trainable,
            new AdamWOptions(training.AdamBeta1, training.AdamBeta2, training.AdamEpsilon, training.WeightDecay), collectives);
        var scaler = training.Fp16 ? new DynamicLossScaler() : null;
        IModelWriter writer = loraConfig is null
            ? new FullModelWriter(loaded.Model, loaded.Directory, Checkpoints.ShardSize.Parse(model.MaxShardSize))
            : new AdapterWriter(loaded.Model, loraConfig, loaded.Directory);
        var store = new CheckpointStore(training.OutputDir, writer, updater, loaded.Model.Model.RandomGenerator, scaler, training.SaveTotalLimit,
            ArgumentsJson(model, data, training, lora));

        var plan = TrainingPlan.For(trainData.Count, training, collectives.WorldSize);
        var state = resumeFrom is null ? NewState(plan, training) : store.Restore(resumeFrom);
        if (resumeFrom is not null)
            log.WriteLine($"Resumed from {resumeFrom} at step {state.GlobalStep}.");
        var schedule = deepSpeed?.Schedule(training, plan.TotalSteps)
            ?? new LrSchedule(training.LrSchedulerType, training.LearningRate,
                LrSchedule.WarmupStepsFor(training.WarmupSteps, training.WarmupRatio, plan.TotalSteps), plan.TotalSteps);
        var collator = new Collator(loaded.PadTokenId, data.PadToMaxLength ? data.ModelMaxLength : null);
        var parts = new TrainerParts(
            training, plan, schedule,
            new MicroBatchSource(trainData, plan, collator, data.GroupByLength && !data.PadToMaxLength, training.Seed, collectives.Rank, collectives.WorldSize),
            new StepRunner(loaded.Model, updater, collectives, scaler),
            evalExamples is null ? null : () => Evaluator.Evaluate(loaded.Model, evalExamples, training.PerDeviceEvalBatchSize, loaded.PadTokenId),
            store, callbacks);
        var summary = new Trainer(parts).Train(state);
        if (trainData.DroppedWithoutTargets > 0)
            log.WriteLine($"{trainData.DroppedWithoutTargets} sample(s) had no target token left after truncation to {data.ModelMaxLength} tokens and were skipped.");
        return summary;
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

    private static ISftDataset ReadData(string path, DataArguments data, SftFeaturizer featurizer, TextWriter log)
    {
        var records = ChatDataReader.Read(path, data.SkipInvalidRecords);
        if (records.SkippedProblems.Count > 0)
            log.WriteLine($"Skipped {records.SkippedProblems.Count} invalid record(s) of {path} (--skip_invalid_records), e.g. {records.SkippedProblems[0]}");
        ISftDataset dataset = data.LazyPreprocess
            ? new LazySftDataset(records.Samples, featurizer)
            : new EagerSftDataset(records.Samples, featurizer);
        log.WriteLine($"{path}: {records.Samples.Count} conversations{(data.LazyPreprocess ? " (tokenized lazily)" : "")}.");
        return dataset;
    }

    private static LoraConfig SetUpLora(LoadedModel loaded, LoraArguments lora, int seed, TextWriter log)
    {
        var config = lora.LoraWeightPath is { Length: > 0 } adapterPath
            ? PeftAdapter.ReadConfig(adapterPath) with { Dropout = lora.LoraDropout }
            : new LoraConfig
            {
                R = lora.LoraR, Alpha = lora.LoraAlpha, Dropout = lora.LoraDropout,
                TargetModules = lora.LoraTargetModules, Bias = lora.LoraBias, UseRslora = lora.UseRslora,
            };
        LoraInjector.Apply(loaded.Model, config, seed);
        if (lora.LoraWeightPath is { Length: > 0 } path)
        {
            PeftAdapter.LoadWeights(path, loaded.Model, config);
            log.WriteLine($"Starting from the adapter in {path} (r {config.R}, alpha {config.Alpha}).");
        }
        log.WriteLine(LoraInjector.TrainableParametersLine(loaded.Model));
        return config;
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

    private static JsonObject ArgumentsJson(params object[] groups)
    {
        var json = new JsonObject();
        foreach (var group in groups)
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
