using QwenTune.Configuration;

namespace QwenTune.Planning;

/// <summary>The warning `train` prints before its first step when the estimated peak will not fit in the machine's free memory.</summary>
public static class FitCheck
{
    /// <param name="ranksOnNode">Ranks sharing this machine's memory.</param>
    /// <param name="availableBytes">Memory the machine can still give (MemAvailable); 0 or less when unknown.</param>
    /// <returns>The warning, or null when the run fits, the free memory is unknown, or the flags are wrong (train reports those itself).</returns>
    public static string? Warning(TrainingRequest request, int worldSize, int ranksOnNode, long availableBytes)
    {
        if (availableBytes <= 0)
            return null;
        MemoryEstimate estimate;
        try
        {
            estimate = MemoryEstimator.Estimate(TrainingShape.From(request, worldSize));
        }
        catch (QwenTuneException)
        {
            return null;
        }
        var needed = estimate.Peak * ranksOnNode;
        if (needed <= availableBytes)
            return null;
        var ranks = ranksOnNode > 1 ? $" for {ranksOnNode} ranks on this machine" : "";
        return $"warning: this run is estimated to need {Bytes.Format(needed)} at its peak{ranks} " +
               $"({Bytes.Format(estimate.Peak)} per rank, sequences of {request.Data.ModelMaxLength} tokens), but only " +
               $"{Bytes.Format(availableBytes)} is free (MemAvailable). Consider --gradient_checkpointing, a smaller " +
               "--per_device_train_batch_size or --model_max_length, --use_lora / --q_lora, or more ranks with ZeRO. " +
               "`qwentune estimate` with the same flags shows the parts.";
    }
}
