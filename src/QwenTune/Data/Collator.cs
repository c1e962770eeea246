using static TorchSharp.torch;

namespace QwenTune.Data;

/// <summary>
/// Pads examples on the right into one batch: to the longest example (default) or to a fixed length
/// (--pad_to_max_length, as Qwen's example pads everything to model_max_length). Packed rows (--packing) also get
/// position ids that restart at each sample; padding counts from 0 as a sample of its own, so it never joins the
/// last real sample.
/// </summary>
public sealed class Collator(int padTokenId, int? padToLength = null)
{
    public Batch Collate(IReadOnlyList<SftExample> examples)
    {
        var longest = examples.Max(e => e.InputIds.Length);
        var width = Math.Max(longest, padToLength ?? 0);
        var ids = new long[examples.Count * width];
        var labels = new long[examples.Count * width];
        var mask = new long[examples.Count * width];
        Array.Fill(ids, padTokenId);
        Array.Fill(labels, -100L);
        var positions = examples.Any(e => e.SampleLengths is not null) ? new long[examples.Count * width] : null;
        int targets = 0, tokens = 0;
        for (var row = 0; row < examples.Count; row++)
        {
            var example = examples[row];
            for (var t = 0; t < example.InputIds.Length; t++)
            {
                ids[row * width + t] = example.InputIds[t];
                labels[row * width + t] = example.Labels[t];
                mask[row * width + t] = 1;
            }
            targets += example.TargetCount;
            tokens += example.InputIds.Length;
            if (positions is not null)
                FillPositions(positions.AsSpan(row * width, width), example.SampleLengths ?? [example.InputIds.Length]);
        }
        long[] shape = [examples.Count, width];
        return new Batch(tensor(ids, shape), tensor(labels, shape), tensor(mask, shape), targets, tokens,
            positions is null ? null : tensor(positions, shape))
        {
            SampleCount = examples.Sum(e => e.SampleLengths?.Length ?? 1),
        };
    }

    private static void FillPositions(Span<long> row, IReadOnlyList<int> sampleLengths)
    {
        var start = 0;
        foreach (var length in sampleLengths.Append(row.Length - sampleLengths.Sum()))
        {
            for (var t = 0; t < length; t++)
                row[start + t] = t;
            start += length;
        }
    }
}
