using static TorchSharp.torch;

namespace QwenTune.Generation;

/// <summary>
/// Hugging Face's logits processors and warpers (generation/logits_process.py), expression by expression, on float32
/// scores (B, V). Removed tokens get -inf, as HF's filter_value. <see cref="Apply"/> chains them in
/// GenerationMixin._get_logits_processor's order: repetition penalty, min new tokens, then (sampling only)
/// temperature, top-k, top-p, min-p.
/// </summary>
public static class LogitsProcessors
{
    /// <param name="previous">(B, L) ids already in each sequence; a token repeated in a row is penalised once.</param>
    /// <param name="newTokens">Tokens each sequence has generated so far (rows step together).</param>
    /// <param name="eosTokenIds">Ids that end a reply, barred while <paramref name="newTokens"/> is short of min_new_tokens.</param>
    public static Tensor Apply(Tensor scores, Tensor? previous, GenerationConfig config, int newTokens = 0, IReadOnlyCollection<int>? eosTokenIds = null)
    {
        using var scope = NewDisposeScope();
        if (config.RepetitionPenalty != 1.0 && previous is not null)
            scores = RepetitionPenalty(scores, previous, config.RepetitionPenalty);
        if (newTokens < config.MinNewTokens && eosTokenIds is { Count: > 0 })
            scores = BarTokens(scores, eosTokenIds);
        if (config.DoSample)
        {
            if (config.Temperature != 1.0)
                scores = Temperature(scores, config.Temperature);
            if (config.TopK != 0)
                scores = TopK(scores, config.TopK);
            if (config.TopP < 1.0)
                scores = TopP(scores, config.TopP);
            if (config.MinP is { } minP)
                scores = MinP(scores, minP);
        }
        return scores.MoveToOuterDisposeScope();
    }

    /// <summary>RepetitionPenaltyLogitsProcessor (CTRL): a seen token's score is divided by the penalty if positive, multiplied if negative.</summary>
    public static Tensor RepetitionPenalty(Tensor scores, Tensor previous, double penalty)
    {
        using var scope = NewDisposeScope();
        var seen = scores.gather(1, previous);                                          // (B, L)
        seen = where(seen < 0, seen * penalty, seen / penalty);
        return scores.scatter(1, previous, seen).MoveToOuterDisposeScope();
    }

    /// <summary>MinNewTokensLengthLogitsProcessor's effect while the reply is short: the given ids get -inf.</summary>
    public static Tensor BarTokens(Tensor scores, IReadOnlyCollection<int> ids)
    {
        using var scope = NewDisposeScope();
        var columns = tensor(ids.Select(id => (long)id).ToArray(), device: scores.device);
        return scores.index_fill(1, columns, double.NegativeInfinity).MoveToOuterDisposeScope();
    }

    public static Tensor Temperature(Tensor scores, double temperature) => scores / temperature;

    /// <summary>TopKLogitsWarper: keeps the scores at least as high as the k-th highest (ties kept).</summary>
    public static Tensor TopK(Tensor scores, int topK, int minTokensToKeep = 1)
    {
        using var scope = NewDisposeScope();
        var k = (int)Math.Min(Math.Max(topK, minTokensToKeep), scores.shape[^1]);
        var kth = scores.topk(k, dim: -1).values.narrow(-1, k - 1, 1);                // (B, 1)
        return scores.masked_fill(scores < kth, double.NegativeInfinity).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// TopPLogitsWarper: sorted ascending, drops the tokens whose cumulative probability stays at or below 1 - top_p
    /// (so the kept set is the smallest whose probability reaches top_p), always keeping the most likely one.
    /// </summary>
    public static Tensor TopP(Tensor scores, double topP, int minTokensToKeep = 1)
    {
        using var scope = NewDisposeScope();
        var (sorted, indices) = scores.sort(-1, descending: false);
        var cumulative = sorted.softmax(-1).cumsum(-1);
        var removeSorted = cumulative <= 1 - topP;
        removeSorted.narrow(-1, scores.shape[^1] - minTokensToKeep, minTokensToKeep).fill_(false);
        var remove = removeSorted.scatter(1, indices, removeSorted);
        return scores.masked_fill(remove, double.NegativeInfinity).MoveToOuterDisposeScope();
    }

    /// <summary>MinPLogitsWarper: drops tokens whose probability is below min_p times the top token's.</summary>
    public static Tensor MinP(Tensor scores, double minP, int minTokensToKeep = 1)
    {
        using var scope = NewDisposeScope();
        var probabilities = scores.softmax(-1);
        var threshold = probabilities.amax([-1], keepdim: true) * minP;                 // (B, 1)
        var remove = probabilities < threshold;
        var order = scores.argsort(-1, descending: true);
        var removeSorted = remove.gather(1, order);
        removeSorted.narrow(-1, 0, minTokensToKeep).fill_(false);
        remove = removeSorted.scatter(1, order, removeSorted);
        return scores.masked_fill(remove, double.NegativeInfinity).MoveToOuterDisposeScope();
    }
}
