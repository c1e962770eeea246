namespace QwenTune.Training;

/// <summary>
/// A tuning knob of the loss head whose assignment holds on the assigning thread only: a test (or a benchmark, on its
/// own thread) that changes it leaves the runs of tests beside it on the default. One call's forward and backward run on
/// the thread that calls them (libtorch runs a CPU backward on the caller's thread), so both read the same value.
/// </summary>
internal sealed class ThreadTunable<T>(T fallback) where T : struct
{
    private readonly ThreadLocal<T?> _value = new();

    public T Value
    {
        get => _value.Value ?? fallback;
        set => _value.Value = value;
    }
}
