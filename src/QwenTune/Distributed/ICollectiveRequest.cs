namespace QwenTune.Distributed;

/// <summary>
/// A collective in flight. Its tensors must stay alive and untouched until <see cref="Wait"/> returns; disposing an
/// unfinished request waits for it, because the library may still be writing into those tensors.
/// </summary>
public interface ICollectiveRequest : IDisposable
{
    /// <summary>Blocks until the collective has finished and its result is in the output tensor.</summary>
    void Wait();

    /// <summary>Whether <see cref="Wait"/> has returned.</summary>
    bool IsCompleted { get; }
}
