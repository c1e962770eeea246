using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>One parameter's place in its group's flat vector.</summary>
internal sealed record ShardSlot(string Name, Parameter Parameter, bool Decay, long Offset, long Numel, long[] Shape);

/// <summary>
/// Parameters that are reduced, sharded and gathered together: those of one decoder layer (or of everything outside the
/// layers) with one dtype and one trainability. Conceptually they are one flat vector of <see cref="Numel"/> elements,
/// padded to <see cref="PaddedNumel"/> = world size x <see cref="ShardNumel"/>; rank r owns elements
/// [r x ShardNumel, (r + 1) x ShardNumel). Stage 0 does not shard: every rank owns the whole vector.
/// </summary>
internal sealed class ShardGroup : IDisposable
{
    public ShardGroup(int layer, ScalarType dtype, bool trainable, bool storageSharded, IReadOnlyList<ShardSlot> slots, int partitions, int rank)
    {
        Layer = layer;
        Dtype = dtype;
        Trainable = trainable;
        StorageSharded = storageSharded;
        Slots = slots;
        Numel = slots.Sum(s => s.Numel);
        ShardNumel = (Numel + partitions - 1) / partitions;
        PaddedNumel = ShardNumel * partitions;
        OwnStart = rank * ShardNumel;
    }

    /// <summary>The decoder layer, or -1 for parameters outside the layers and those kept whole.</summary>
    public int Layer { get; }

    public ScalarType Dtype { get; }

    public bool Trainable { get; }

    /// <summary>ZeRO-3: between uses each rank keeps only its shard of these parameters.</summary>
    public bool StorageSharded { get; }

    public IReadOnlyList<ShardSlot> Slots { get; }

    public long Numel { get; }

    public long ShardNumel { get; }

    public long PaddedNumel { get; }

    public long OwnStart { get; }

    /// <summary>float32 master weights, AdamW moments and reduced gradients of the owned elements (trainable groups).</summary>
    public Tensor? Master { get; set; }

    public Tensor? ExpAvg { get; set; }

    public Tensor? ExpAvgSq { get; set; }

    public Tensor? Gradient { get; set; }

    /// <summary>
    /// ZeRO-3: the owned elements of the parameters in their own dtype, what every rank contributes to a gather; for
    /// trainable float32 parameters the <see cref="Master"/> shard itself.
    /// </summary>
    public Tensor? StorageShard { get; set; }

    /// <summary>Whether the parameters currently hold their full values (always, unless <see cref="StorageSharded"/>).</summary>
    public bool Gathered { get; set; } = true;

    /// <summary>The part of slot <paramref name="slot"/> inside the flat range [start, start + length): offsets into both.</summary>
    public static (long SlotStart, long RangeStart, long Length)? Overlap(ShardSlot slot, long start, long length)
    {
        var from = Math.Max(slot.Offset, start);
        var to = Math.Min(slot.Offset + slot.Numel, start + length);
        return to > from ? (from - slot.Offset, from - start, to - from) : null;
    }

    /// <summary>
    /// Writes the flat range [start, start + destination's length) of the parameters' gradients (<paramref name="gradients"/>)
    /// or values into <paramref name="destination"/>, converting dtype; zeros for the padding and for parameters without a
    /// gradient.
    /// </summary>
    public void CopyFlat(long start, Tensor destination, bool gradients)
    {
        var length = destination.shape[0];
        destination.zero_();
        foreach (var slot in Slots)
        {
            var source = gradients ? slot.Parameter.grad : slot.Parameter.detach();
            if (source is null || Overlap(slot, start, length) is not (var slotStart, var rangeStart, var count))
                continue;
            destination.narrow(0, rangeStart, count).copy_(source.flatten().narrow(0, slotStart, count));
        }
    }

    public void Dispose()
    {
        var disposed = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var t in new[] { Master, ExpAvg, ExpAvgSq, Gradient, StorageShard })
        {
            if (t is not null && disposed.Add(t))
                t.Dispose();
        }
    }
}
