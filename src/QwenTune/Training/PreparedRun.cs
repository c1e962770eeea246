using QwenTune.Distributed;

namespace QwenTune.Training;

/// <summary>A training run assembled by <see cref="TrainingSession.Prepare"/>: its parts and the state it starts from.</summary>
public sealed record PreparedRun(TrainerParts Parts, TrainerState StartState, DataSetup Data, IParameterUpdater Updater, ICollectives Collectives) : IDisposable
{
    public TrainSummary Train(TextWriter log)
    {
        var summary = new Trainer(Parts).Train(StartState);
        if (Parts.Args.LoadBestModelAtEnd)
            log.WriteLine(StartState.BestModelCheckpoint is { } best
                ? $"--load_best_model_at_end: the final model holds the weights of {best} (best_metric {StartState.BestMetric})."
                : "--load_best_model_at_end: no checkpoint was saved at an evaluation, so the final model is the last step's.");
        if (Data.Train.DroppedWithoutTargets > 0)
            log.WriteLine($"{Data.Train.DroppedWithoutTargets} sample(s) had no target token left after truncation and were skipped.");
        return summary;
    }

    public void Dispose()
    {
        Updater.Dispose();
        Collectives.Dispose();
    }

    /// <summary>
    /// After a failure: frees the optimizer state but leaves MPI unfinalized (MPI_Finalize would wait for ranks that may be
    /// blocked in a collective); the process then exits non-zero and mpirun ends every rank.
    /// </summary>
    public void Abandon()
    {
        Updater.Dispose();
        if (Collectives.WorldSize == 1)
            Collectives.Dispose();
    }
}
