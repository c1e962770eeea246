namespace QwenTune.Distributed;

/// <summary>A request whose collective ran synchronously when it was started.</summary>
internal sealed class CompletedRequest : ICollectiveRequest
{
    public static readonly CompletedRequest Instance = new();

    /// <summary>Runs <paramref name="collective"/> now and returns a finished request (paths with no non-blocking form).</summary>
    public static ICollectiveRequest After(Action collective)
    {
        collective();
        return Instance;
    }

    public bool IsCompleted => true;

    public void Wait() { }

    public void Dispose() { }
}
