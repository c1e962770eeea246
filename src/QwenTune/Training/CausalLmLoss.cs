using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// Next-token loss over target tokens: logits at position t predict label t+1; labels of -100 are ignored.
/// Logits are computed only at positions whose next label is a target (prompt and padding positions never
/// touch the vocabulary matrix), in blocks that are never all in memory at once
/// (<see cref="FusedLinearCrossEntropy"/>), and the cross entropy runs in float32 whatever the model dtype,
/// as Hugging Face's loss upcasts logits.
/// </summary>
public static class CausalLmLoss
{
    public const long IgnoreIndex = -100;

    /// <summary>
    /// Sum of negative log-likelihoods over the batch's target tokens (a float32 scalar that carries the
    /// graph) and how many targets there were.
    /// </summary>
    /// <param name="hidden">(B, T, C) final hidden states.</param>
    /// <param name="labels">(B, T) int64 labels aligned with the inputs (not shifted).</param>
    /// <param name="lmHeadWeight">(V, C): the output embedding (lm_head.weight, or embed_tokens.weight when tied).</param>
    public static (Tensor NllSum, long TargetCount) NllSum(Tensor hidden, Tensor labels, Tensor lmHeadWeight)
    {
        using var scope = NewDisposeScope();
        var shiftedLabels = labels[.., 1..];                                   // (B, T-1)
        var isTarget = shiftedLabels.ne(IgnoreIndex);
        var targetCount = isTarget.sum().item<long>();
        if (targetCount == 0)
            return (zeros(1, ScalarType.Float32, hidden.device).sum().MoveToOuterDisposeScope(), 0);
        var targetHidden = hidden[.., ..^1].SelectRows(isTarget);      // (N, C)
        var targets = shiftedLabels.masked_select(isTarget);                   // (N)
        var nll = FusedLinearCrossEntropy.NllSum(targetHidden, lmHeadWeight, targets);
        return (nll.MoveToOuterDisposeScope(), targetCount);
    }

    /// <summary>Rows of (B, T, C) where the (B, T) mask is true, as (N, C), differentiably.</summary>
    private static Tensor SelectRows(this Tensor values, Tensor mask)
    {
        var flatIndex = mask.reshape(-1).nonzero().squeeze(1);
        return values.reshape(-1, values.shape[^1]).index_select(0, flatIndex);
    }
}
