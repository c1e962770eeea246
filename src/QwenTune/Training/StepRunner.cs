using QwenTune.Data;
using QwenTune.Distributed;
using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// Forward and backward over one optimizer step's micro-batches, then the update. The step's loss is the
/// summed NLL of all its target tokens (over every micro-batch and, in data-parallel runs, every rank)
/// divided by their total count: each target token weighs the same however the tokens fall into batches,
/// so batch 4 x accumulation 1 and batch 1 x accumulation 4 give the same update, and so do 2 ranks x batch 2
/// and 1 rank x batch 4. (Hugging Face averages per-micro-batch means, which weighs a token in a short batch
/// more than one in a long batch.)
/// </summary>
public sealed class StepRunner(QwenForCausalLM model, IParameterUpdater updater, ICollectives collectives, ILossScaler? scaler) : IStepRunner
{
    public StepMetrics Run(int step, IReadOnlyList<Batch> batches, double learningRate, double maxGradNorm, double epoch)
    {
        var started = System.Diagnostics.Stopwatch.StartNew();
        var totalTargets = (long)collectives.AllReduceSum(batches.Sum(b => (double)b.TargetCount));
        updater.ZeroGrad();
        var lossScale = scaler?.Scale ?? 1.0;
        double nllSum = 0;
        if (totalTargets > 0)
        {
            foreach (var batch in batches)
            {
                nllSum += Backward(batch, lossScale / totalTargets);
                updater.AfterBackward();
            }
        }
        var totalNll = collectives.AllReduceSum(nllSum);
        var tokens = (long)collectives.AllReduceSum(batches.Sum(b => (double)b.TokenCount));
        var samples = (long)collectives.AllReduceSum(batches.Where(b => !b.IsPlaceholder).Sum(b => (double)b.SampleCount));
        var result = totalTargets > 0 ? updater.Step(learningRate, maxGradNorm, lossScale) : new StepResult(0, Skipped: true);
        if (totalTargets > 0)
            scaler?.Update(result.Skipped);
        var loss = totalTargets > 0 ? totalNll / totalTargets : double.NaN;
        // Under fp16 a non-finite gradient is the loss scaler's overflow (the scale was too high), unless the loss itself
        // is non-finite; without a scaler any non-finite value means the step is broken.
        var nonFinite = totalTargets > 0 && (!double.IsFinite(loss) || (scaler is null && result.Skipped));
        return new StepMetrics(step, loss, learningRate, result.GradNorm, totalTargets, tokens, started.Elapsed.TotalSeconds, epoch, result.Skipped)
        {
            Samples = samples,
            NonFinite = nonFinite,
            Overflow = totalTargets > 0 && scaler is not null && result.Skipped && !nonFinite,
        };
    }

    /// <summary>Backward of one micro-batch's NLL times <paramref name="weight"/>; a placeholder runs with weight 0 and counts nothing.</summary>
    private double Backward(Batch batch, double weight)
    {
        using var scope = NewDisposeScope();
        using var onDevice = batch.To(model.Device);
        var hidden = model.Hidden(onDevice.InputIds, onDevice.AttentionMask, onDevice.PositionIds);
        var (nll, _) = CausalLmLoss.NllSum(hidden, onDevice.Labels, model.LmHeadWeight);
        (nll * (batch.IsPlaceholder ? 0.0 : weight)).backward();
        return batch.IsPlaceholder ? 0.0 : nll.item<float>();
    }
}
