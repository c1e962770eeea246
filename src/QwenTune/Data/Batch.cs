using static TorchSharp.torch;

namespace QwenTune.Data;

/// <summary>
/// A padded micro-batch: (B, T) int64 input ids, labels (-100 at padding) and attention mask, and for packed rows
/// (--packing) the (B, T) int64 position ids that restart at 0 where each sample begins.
/// </summary>
public sealed class Batch : IDisposable
{
    private readonly int? _sampleCount;

    public Batch(Tensor inputIds, Tensor labels, Tensor attentionMask, int targetCount, int tokenCount, Tensor? positionIds = null)
    {
        InputIds = inputIds;
        Labels = labels;
        AttentionMask = attentionMask;
        TargetCount = targetCount;
        TokenCount = tokenCount;
        PositionIds = positionIds;
    }

    public Tensor InputIds { get; }

    public Tensor Labels { get; }

    public Tensor AttentionMask { get; }

    /// <summary>Per-token positions of packed rows (a 0 starts a sample); null when every row is one sample.</summary>
    public Tensor? PositionIds { get; }

    /// <summary>Tokens the loss is computed on (next-token targets).</summary>
    public int TargetCount { get; }

    /// <summary>Non-padding tokens.</summary>
    public int TokenCount { get; }

    /// <summary>Rows.</summary>
    public int Size => (int)InputIds.shape[0];

    /// <summary>Samples: the rows, or for packed rows the samples they hold.</summary>
    public int SampleCount
    {
        get => _sampleCount ?? Size;
        init => _sampleCount = value;
    }

    /// <summary>
    /// A stand-in that a rank with no data left in a step runs with zero weight: every rank of a data-parallel job must
    /// run the same number of forward and backward passes (ZeRO-3 gathers parameters inside them), and this one adds
    /// nothing to the loss, the gradients or the counts.
    /// </summary>
    public bool IsPlaceholder { get; private init; }

    /// <summary>This batch's tensors as a placeholder (zero counts); the tensors are moved, not copied.</summary>
    public Batch AsPlaceholder() => new(InputIds, Labels, AttentionMask, 0, 0, PositionIds) { IsPlaceholder = true, SampleCount = SampleCount };

    /// <summary>A copy on <paramref name="device"/> (new tensor handles even on the same device, so both can be disposed).</summary>
    public Batch To(Device device) =>
        new(InputIds.to(device), Labels.to(device), AttentionMask.to(device), TargetCount, TokenCount, PositionIds?.to(device))
        {
            IsPlaceholder = IsPlaceholder,
            SampleCount = SampleCount,
        };

    public void Dispose()
    {
        InputIds.Dispose();
        Labels.Dispose();
        AttentionMask.Dispose();
        PositionIds?.Dispose();
    }
}
