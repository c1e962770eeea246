using QwenTune.Training;

namespace QwenTune.TestHost;

/// <summary>
/// Pauses between staging and committing checkpoint-<paramref name="pauseStep"/> and says so on stderr, so a test can
/// SIGKILL the process while every file of that checkpoint is written but not yet renamed into place.
/// </summary>
internal sealed class PausingCheckpointStore(ICheckpointStore inner, int pauseStep, TimeSpan pause) : ICheckpointStore
{
    public StagedCheckpoint Stage(int step, TrainerState state) => inner.Stage(step, state);

    public string Commit(StagedCheckpoint staged, TrainerState state)
    {
        if (staged.Step == pauseStep)
        {
            Console.Error.WriteLine($"[test host] checkpoint-{staged.Step} written to {staged.TemporaryPath}; pausing {pause.TotalSeconds}s before the commit");
            Thread.Sleep(pause);
        }
        return inner.Commit(staged, state);
    }

    public void SaveFinal(TrainerState state, TrainSummary summary) => inner.SaveFinal(state, summary);
}
