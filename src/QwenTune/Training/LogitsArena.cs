using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// Float32 CPU storage that the fused loss head's logits blocks are written to, kept from one forward + backward to the
/// next. Allocated afresh, the blocks' hundreds of megabytes came back from the kernel on every micro-batch as pages
/// faulted in and zeroed (a fifth of the head's time at 300 tokens) and went back to it after, which is most of the
/// resident-memory sawtooth of a run. One forward leases it until its backward; a second forward in between (two
/// losses summed before one backward) finds it taken and allocates as before. It only grows, to the largest need seen.
/// </summary>
internal static class LogitsArena
{
    private static readonly Lock Gate = new();
    private static Tensor? _storage;
    private static object? _holder;

    /// <summary>At least <paramref name="elements"/> float32 elements for <paramref name="holder"/>, or null while another holds it.</summary>
    public static Tensor? Lease(long elements, object holder)
    {
        lock (Gate)
        {
            if (_holder is not null)
                return null;
            if (_storage is null || _storage.NumberOfElements < elements)
            {
                _storage?.Dispose();
                _storage = null;
                _storage = empty(elements, ScalarType.Float32).DetachFromDisposeScope();
            }
            _holder = holder;
            return _storage;
        }
    }

    /// <summary>Whether a forward holds the arena for its backward.</summary>
    public static bool IsLeased
    {
        get
        {
            lock (Gate)
                return _holder is not null;
        }
    }

    public static void Return(object holder)
    {
        lock (Gate)
        {
            if (ReferenceEquals(_holder, holder))
                _holder = null;
        }
    }
}
