using QwenTune.Data;
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
    public static EvalResult Evaluate(QwenForCausalLM model, IReadOnlyList<SftExample> examples, int batchSize, int padTokenId)
    {
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
            foreach (var chunk in order.Chunk(Math.Max(1, batchSize)))
            {
                using var scope = NewDisposeScope();
                using var cpuBatch = collator.Collate(chunk.Select(i => examples[i]).ToList());
                using var batch = cpuBatch.To(model.Device);
                var hidden = model.Hidden(batch.InputIds, batch.AttentionMask);
                var (nll, count) = CausalLmLoss.NllSum(hidden, batch.Labels, model.LmHeadWeight);
                nllSum += nll.to(ScalarType.Float64).item<double>();
                targets += count;
            }
            return new EvalResult(targets == 0 ? double.NaN : nllSum / targets, targets, examples.Count);
        }
        finally
        {
            model.train(wasTraining);
        }
    }
}
