using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// CPU storage that the fused loss head's logits blocks are written to (float32, or bf16 as libtorch's bf16 products
/// write them; one storage per dtype, one lease for all), kept from one forward + backward to the
/// next. Allocated afresh, the blocks' hundreds of megabytes came back from the kernel on every micro-batch as pages
/// faulted in and zeroed (a fifth of the head's time at 300 tokens) and went back to it after, which is most of the
/// resident-memory sawtooth of a run. One forward leases it until its backward; a second forward in between (two
/// losses summed before one backward) finds it taken and allocates as before. It only grows, to the largest need seen.
/// </summary>
internal static class LogitsArena
{
    private static readonly Lock Gate = new();
    private static readonly Dictionary<ScalarType, Tensor> Storage = [];
    private static object? _holder;

    /// <summary>At least <paramref name="elements"/> elements of <paramref name="dtype"/> for <paramref name="holder"/>, or null while another holds it.</summary>
    public static Tensor? Lease(long elements, object holder, ScalarType dtype = ScalarType.Float32)
    {
        lock (Gate)
        {
            if (_holder is not null)
                return null;
            if (!Storage.TryGetValue(dtype, out var storage) || storage.NumberOfElements < elements)
            {
                storage?.Dispose();
                Storage.Remove(dtype);
                storage = empty(elements, dtype).DetachFromDisposeScope();
                Storage[dtype] = storage;
            }
            _holder = holder;
            return storage;
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
