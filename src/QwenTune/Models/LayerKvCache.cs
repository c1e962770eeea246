using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>
/// The keys and values one attention layer has computed so far, for incremental decoding: (B, Hkv, capacity, D)
/// buffers that grow in chunks of <see cref="ChunkTokens"/> positions, so a decode step writes one slot instead of
/// concatenating the whole history (Hugging Face's StaticCache idea, without a fixed maximum). Keys are stored after
/// RoPE and before repeat_kv, as Hugging Face's caches store them.
/// </summary>
public sealed class LayerKvCache : IDisposable
{
    public const long ChunkTokens = 256;

    private Tensor? _keys;
    private Tensor? _values;

    /// <summary>Positions held (the key length the next step attends over, before its own).</summary>
    public long Length { get; private set; }

    public long Capacity => _keys?.shape[2] ?? 0;

    /// <summary>Appends (B, Hkv, T, D) keys and values; returns views of all (B, Hkv, Length, D) held so far.</summary>
    public (Tensor Keys, Tensor Values) Append(Tensor keys, Tensor values)
    {
        var time = keys.shape[2];
        EnsureCapacity(keys, Length + time);
        using (no_grad())
        {
            _keys!.narrow(2, Length, time).copy_(keys);
            _values!.narrow(2, Length, time).copy_(values);
        }
        Length += time;
        return (_keys.narrow(2, 0, Length), _values.narrow(2, 0, Length));
    }

    private void EnsureCapacity(Tensor like, long needed)
    {
        if (needed <= Capacity)
            return;
        var capacity = (needed + ChunkTokens - 1) / ChunkTokens * ChunkTokens;
        _keys = Grow(_keys, like, capacity);
        _values = Grow(_values, like, capacity);
    }

    // The buffers outlive the forward pass that grows them, so they leave its dispose scope.
    private Tensor Grow(Tensor? old, Tensor like, long capacity)
    {
        var grown = empty([like.shape[0], like.shape[1], capacity, like.shape[3]], like.dtype, like.device).DetachFromDisposeScope();
        if (old is not null)
        {
            using (no_grad())
                grown.narrow(2, 0, Length).copy_(old.narrow(2, 0, Length));
            old.Dispose();
        }
        return grown;
    }

    public void Dispose()
    {
        _keys?.Dispose();
        _values?.Dispose();
        _keys = _values = null;
        Length = 0;
    }
}
