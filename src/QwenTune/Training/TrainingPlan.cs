using QwenTune.Configuration;

namespace QwenTune.Training;

/// <summary>
/// How many micro-batches and optimizer steps a run has, as Hugging Face Trainer counts them: an epoch is
/// ceil(samples / batch) micro-batches and ceil(micro-batches / accumulation) optimizer steps (a short last
/// group still makes a step); max_steps, when positive, overrides num_train_epochs.
/// </summary>
public sealed record TrainingPlan(int Samples, int BatchSize, int AccumulationSteps, int StepsPerEpoch, int TotalSteps)
{
    public int MicroBatchesPerEpoch => (Samples + BatchSize - 1) / BatchSize;

    public static TrainingPlan For(int samples, TrainingArguments args, int worldSize = 1)
    {
        if (args.PerDeviceTrainBatchSize <= 0)
            throw new QwenTuneException("--per_device_train_batch_size must be positive.");
        if (args.GradientAccumulationSteps <= 0)
            throw new QwenTuneException("--gradient_accumulation_steps must be positive.");
        var perRank = (samples + worldSize - 1) / worldSize;
        var microBatches = (perRank + args.PerDeviceTrainBatchSize - 1) / args.PerDeviceTrainBatchSize;
        var stepsPerEpoch = Math.Max(1, (microBatches + args.GradientAccumulationSteps - 1) / args.GradientAccumulationSteps);
        var total = args.MaxSteps > 0 ? args.MaxSteps : (int)Math.Ceiling(args.NumTrainEpochs * stepsPerEpoch);
        if (total <= 0)
            throw new QwenTuneException("nothing to train: set --num_train_epochs above 0 or --max_steps.");
        return new TrainingPlan(perRank, args.PerDeviceTrainBatchSize, args.GradientAccumulationSteps, stepsPerEpoch, total);
    }

    /// <summary>The epoch and the micro-batch range of the optimizer step with 0-based index <paramref name="step"/>.</summary>
    public (int Epoch, int FirstMicroBatch, int MicroBatchCount) Locate(int step)
    {
        var epoch = step / StepsPerEpoch;
        var first = step % StepsPerEpoch * AccumulationSteps;
        var count = Math.Min(AccumulationSteps, MicroBatchesPerEpoch - first);
        return (epoch, first, count);
    }
}
