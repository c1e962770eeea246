namespace QwenTune.Distributed;

/// <summary>A request whose collective ran synchronously when it was started.</summary>
internal sealed class CompletedRequest : ICollectiveRequest
{
    public static readonly CompletedRequest Instance = new();

    public bool IsCompleted => true;

    public void Wait() { }

    public void Dispose() { }
}
