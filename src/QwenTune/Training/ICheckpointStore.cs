namespace QwenTune.Training;

/// <summary>Writes checkpoints and the final model; the trainer only says when.</summary>
public interface ICheckpointStore
{
    /// <summary>Writes output_dir/checkpoint-{step} atomically and prunes past save_total_limit; returns its path.</summary>
    string SaveCheckpoint(int step, TrainerState state);

    /// <summary>Writes the final model, trainer_state.json and train_results.json into output_dir.</summary>
    void SaveFinal(TrainerState state, TrainSummary summary);
}
