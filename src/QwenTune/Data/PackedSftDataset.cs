namespace QwenTune.Data;

/// <summary>
/// The training set as packed rows (--packing): each row concatenates whole samples up to <c>capacity</c> tokens
/// (<see cref="SamplePacker"/>), so batches carry little padding. A row is an <see cref="SftExample"/> whose
/// <see cref="SftExample.SampleLengths"/> mark the sample boundaries; the first token of every sample loses its
/// label, so no sample's first token is a target of the previous sample's last one (alone it had no predecessor
/// either: <see cref="SftExample.TargetCount"/> never counts position 0). The packing needs every sample's token
/// count once: a lazy dataset tokenizes each sample for it, keeping only the counts, and again when a row is used.
/// </summary>
public sealed class PackedSftDataset : ISftDataset
{
    private readonly ISftDataset _samples;
    private readonly List<List<int>> _rows;
    private readonly int[] _rowLengths;

    public PackedSftDataset(ISftDataset samples, int capacity)
    {
        _samples = samples;
        var kept = new List<int>(samples.Count);
        var lengths = new List<int>(samples.Count);
        for (var i = 0; i < samples.Count; i++)
        {
            if (samples.Get(i) is { } example)
            {
                kept.Add(i);
                lengths.Add(example.InputIds.Length);
            }
        }
        if (kept.Count == 0)
            throw new QwenTuneException($"no sample keeps a target token after truncation ({samples.DroppedWithoutTargets} dropped); raise --model_max_length.");
        var packed = SamplePacker.Pack(lengths, capacity);
        _rowLengths = packed.Select(row => row.Sum(k => lengths[k])).ToArray();
        _rows = packed.Select(row => row.Select(k => kept[k]).ToList()).ToList();
        SampleCount = kept.Count;
    }

    /// <summary>Packed rows.</summary>
    public int Count => _rows.Count;

    /// <summary>Samples spread over the rows.</summary>
    public int SampleCount { get; }

    public int DroppedWithoutTargets => _samples.DroppedWithoutTargets;

    public int LengthHint(int index) => _rowLengths[index];

    /// <summary>The sample indices of row <paramref name="index"/> (in the wrapped dataset), in row order.</summary>
    public IReadOnlyList<int> SamplesOf(int index) => _rows[index];

    public SftExample? Get(int index)
    {
        var parts = _rows[index].Select(i => _samples.Get(i)
            ?? throw new InvalidOperationException($"sample {i} had a target when packed and none now")).ToList();
        var ids = new int[_rowLengths[index]];
        var labels = new int[ids.Length];
        var offset = 0;
        foreach (var part in parts)
        {
            part.InputIds.CopyTo(ids, offset);
            part.Labels.CopyTo(labels, offset);
            labels[offset] = -100;
            offset += part.InputIds.Length;
        }
        return new SftExample(ids, labels, string.Concat(parts.Select(p => p.Text)), parts[0].Location)
        {
            SampleLengths = parts.Select(p => p.InputIds.Length).ToArray(),
        };
    }
}
