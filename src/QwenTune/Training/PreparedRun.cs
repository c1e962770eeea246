using QwenTune.Distributed;
using QwenTune.IO;

namespace QwenTune.Training;

/// <summary>A training run assembled by <see cref="TrainingSession.Prepare"/>: its parts and the state it starts from.</summary>
public sealed record PreparedRun(TrainerParts Parts, TrainerState StartState, DataSetup Data, IParameterUpdater Updater, ICollectives Collectives) : IDisposable
{
    /// <summary>output_dir's lock, held by rank 0 until the run is disposed or abandoned.</summary>
    public RunLock? Lock { get; init; }

    public TrainSummary Train(TextWriter log)
    {
        if (Collectives.Rank != 0)
            log = TextWriter.Null;   // rank 0 alone speaks for the job
        if (Data.Train.DroppedWithoutTargets > 0)
            log.WriteLine($"{Data.Train.DroppedWithoutTargets} sample(s) had no target token left after truncation and are skipped.");
        var summary = new Trainer(Parts).Train(StartState);
        if (Parts.Args.LoadBestModelAtEnd && !summary.AlreadyComplete)
            log.WriteLine(StartState.BestModelCheckpoint is { } best
                ? $"--load_best_model_at_end: the final model holds the weights of {best} (best_metric {StartState.BestMetric})."
                : "--load_best_model_at_end: no checkpoint was saved at an evaluation, so the final model is the last step's.");
        if (summary.AlreadyComplete)
            log.WriteLine($"Nothing to do: the run in {Parts.Args.OutputDir} already reached step {StartState.GlobalStep} of " +
                          $"{Parts.Plan.TotalSteps} and its final model is written; the folder is left as it is. Raise --max_steps " +
                          "(or --num_train_epochs) to train further, or pass --overwrite_output_dir True to start afresh.");
        if (summary.StoppedBySignal != 0)
            log.WriteLine(StopMessage(summary));
        return summary;
    }

    /// <summary>Where the checkpoint is and how to go on, after a signal stopped the run.</summary>
    private string StopMessage(TrainSummary summary)
    {
        var args = Parts.Args;
        var checkpoint = Path.GetFullPath(summary.StopCheckpoint!);
        var rerun = args.OverwriteOutputDir || args.ResumeFromCheckpoint is not null
            ? $"rerun the same command with --resume_from_checkpoint {checkpoint}" + (args.OverwriteOutputDir ? " and without --overwrite_output_dir" : "")
            : $"rerun the same command (it resumes from the newest checkpoint in {args.OutputDir}), or pass --resume_from_checkpoint {checkpoint}";
        return $"Stopped by {StopSignal.NameOf(summary.StoppedBySignal)} after step {Path.GetFileName(checkpoint)[CheckpointStore.Prefix.Length..]} " +
               $"of {Parts.Plan.TotalSteps}: checkpoint saved to {checkpoint}. To resume, {rerun}.";
    }

    public void Dispose()
    {
        Parts.Stop.Dispose();
        Updater.Dispose();
        Collectives.Dispose();
        Lock?.Dispose();
    }

    /// <summary>
    /// After a failure: frees the optimizer state but leaves MPI unfinalized (MPI_Finalize would wait for ranks that may be
    /// blocked in a collective); the process then exits non-zero and mpirun ends every rank.
    /// </summary>
    public void Abandon()
    {
        Parts.Stop.Dispose();
        Lock?.Dispose();
        Updater.Dispose();
        if (Collectives.WorldSize == 1)
            Collectives.Dispose();
    }
}
