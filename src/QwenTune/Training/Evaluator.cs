using QwenTune.Data;
using QwenTune.Distributed;
using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>eval_loss = total next-token NLL over all target tokens / their number, over the whole set.</summary>
public sealed record EvalResult(double EvalLoss, long EvalTokens, int EvalSamples)
{
    public double Perplexity => Math.Exp(EvalLoss);
}

/// <summary>
/// Scores a model on examples. Sums NLL in float64 across batches and divides once at the end, so the
/// result does not depend on the batch size (only on float error inside each batch's forward).
/// </summary>
public static class Evaluator
{
    /// <summary>
    /// With <paramref name="collectives"/> of several ranks, the length-sorted batches are dealt round-robin and the
    /// sums added over the ranks, so every rank returns what one process would; a rank short of a batch in the last
    /// round runs a placeholder forward (ZeRO-3 gathers parameters inside every forward).
    /// </summary>
    public static EvalResult Evaluate(QwenForCausalLM model, IReadOnlyList<SftExample> examples, int batchSize, int padTokenId,
        ICollectives? collectives = null)
    {
        var (rank, world) = (collectives?.Rank ?? 0, collectives?.WorldSize ?? 1);
        var wasTraining = model.training;
        model.eval();
        try
        {
            using var noGrad = no_grad();
            var collator = new Collator(padTokenId);
            double nllSum = 0;
            long targets = 0;
            // Sorted by length so each batch pads little; the sum does not care about order.
            var order = Enumerable.Range(0, examples.Count).OrderBy(i => examples[i].InputIds.Length).ToArray();
            var chunks = order.Chunk(Math.Max(1, batchSize)).ToList();
            var rounds = (chunks.Count + world - 1) / world;
            for (var round = 0; round < rounds; round++)
            {
                var index = round * world + rank;
                var placeholder = index >= chunks.Count;
                using var scope = NewDisposeScope();
                using var cpuBatch = collator.Collate((placeholder ? chunks[0] : chunks[index]).Select(i => examples[i]).ToList());
                using var batch = cpuBatch.To(model.Device);
                var hidden = model.Hidden(batch.InputIds, batch.AttentionMask);
                if (placeholder)
                    continue;   // the forward was for the layers' collectives; there is nothing to score
                var (nll, count) = CausalLmLoss.NllSum(hidden, batch.Labels, model.LmHeadWeight);
                nllSum += nll.to(ScalarType.Float64).item<double>();
                targets += count;
            }
            if (collectives is not null && world > 1)
            {
                nllSum = collectives.AllReduceSum(nllSum);
                targets = (long)collectives.AllReduceSum(targets);
            }
            return new EvalResult(targets == 0 ? double.NaN : nllSum / targets, targets, examples.Count);
        }
        finally
        {
            model.train(wasTraining);
        }
    }
}
