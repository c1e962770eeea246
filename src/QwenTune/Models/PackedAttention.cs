using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>
/// Causal attention within each sample of packed rows, one causal SDPA per sample. Rows are cut with split and joined
/// with cat, whose backward is one cat and one split (slicing would scatter every sample's gradient into a zero tensor
/// the size of the row).
/// </summary>
public static class PackedAttention
{
    /// <param name="q">(B, H, T, D); <paramref name="k"/> and <paramref name="v"/> alike, kv heads already repeated.</param>
    /// <param name="sampleLengths">Per row, its samples' token counts, summing to T.</param>
    /// <returns>(B, H, T, D).</returns>
    public static Tensor PerSample(Tensor q, Tensor k, Tensor v, IReadOnlyList<long[]> sampleLengths)
    {
        using var scope = NewDisposeScope();
        var rows = new List<Tensor>(sampleLengths.Count);
        for (var row = 0; row < sampleLengths.Count; row++)
        {
            var lengths = sampleLengths[row];
            var qs = q[row..(row + 1)].split(lengths, 2);                                   // (1, H, Ti, D) each
            var ks = k[row..(row + 1)].split(lengths, 2);
            var vs = v[row..(row + 1)].split(lengths, 2);
            var samples = qs.Select((_, i) => BFloat16Products.Attention(qs[i], ks[i], vs[i], null));
            rows.Add(cat(samples.ToList(), 2));                                             // (1, H, T, D)
        }
        return cat(rows, 0).MoveToOuterDisposeScope();
    }
}
