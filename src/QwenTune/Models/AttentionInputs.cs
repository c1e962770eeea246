using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>
/// What every decoder layer needs besides the hidden states: rotary cos/sin (B, 1, T, D) and, when the batch has
/// padding that a causal mask alone cannot handle, a boolean mask (B, 1, T, T), true = may attend. Long packed rows
/// carry <see cref="SampleLengths"/> instead of a mask: attention then runs causally within each sample.
/// </summary>
public sealed record AttentionInputs(Tensor Cos, Tensor Sin, Tensor? Mask)
{
    /// <summary>
    /// In incremental decoding, the layer's keys and values of earlier steps: the layer appends its own and attends
    /// over all of them, and <see cref="Mask"/> is then (B, 1, T, past + T).
    /// </summary>
    public LayerKvCache? Cache { get; init; }

    /// <summary>Per row, the token counts of its samples (padding last, as a sample of its own), summing to T.</summary>
    public IReadOnlyList<long[]>? SampleLengths { get; init; }
}
