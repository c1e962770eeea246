namespace QwenTune.Training;

/// <summary>A checkpoint written completely under a temporary name, not yet visible as output_dir/checkpoint-{Step}.</summary>
public sealed record StagedCheckpoint(int Step, string TemporaryPath, string FinalPath);

/// <summary>
/// Writes checkpoints and the final model; the trainer only says when. A checkpoint is saved in two steps, so that it is
/// complete or absent: <see cref="Stage"/> writes every file under a temporary name, <see cref="Commit"/> makes it
/// visible at once (a rename) and prunes past save_total_limit.
/// </summary>
public interface ICheckpointStore
{
    StagedCheckpoint Stage(int step, TrainerState state);

    /// <summary>Makes <paramref name="staged"/> output_dir/checkpoint-{step}; returns its path.</summary>
    string Commit(StagedCheckpoint staged, TrainerState state);

    /// <summary>Writes the final model, trainer_state.json and train_results.json into output_dir.</summary>
    void SaveFinal(TrainerState state, TrainSummary summary);
}
