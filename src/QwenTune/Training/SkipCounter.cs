namespace QwenTune.Training;

/// <summary>
/// Counts skipped steps: non-finite ones (which stop the run after <c>--max_skipped_steps</c> in a row, since a model
/// that produces NaN step after step will not recover by itself) and fp16 overflows, which the loss scaler handles and
/// which only count.
/// </summary>
internal sealed class SkipCounter(int maxConsecutive)
{
    private int _consecutive;

    public int Total { get; private set; }

    public int Overflows { get; private set; }

    /// <summary>Counts <paramref name="metrics"/>; throws when it makes <c>--max_skipped_steps</c> non-finite steps in a row.</summary>
    public void Add(StepMetrics metrics, Func<string?> lastCheckpoint)
    {
        Overflows += metrics.Overflow ? 1 : 0;
        if (!metrics.NonFinite)
        {
            _consecutive = 0;
            return;
        }
        Total++;
        if (++_consecutive < maxConsecutive || maxConsecutive <= 0)
            return;
        var stepNumber = metrics.Step + 1;
        var kept = lastCheckpoint() is { } checkpoint
            ? $"The last good checkpoint, {checkpoint}, is kept as it was"
            : "No checkpoint had been saved yet";
        throw new QwenTuneException(
            $"step {stepNumber}: loss {metrics.Loss}, gradient norm {metrics.GradNorm}; steps {stepNumber - _consecutive + 1} to {stepNumber} " +
            $"were all non-finite and skipped ({_consecutive} in a row, --max_skipped_steps {maxConsecutive}), so the run stops. " +
            $"{kept}. Lower --learning_rate, check --max_grad_norm and the data of these steps, or raise --max_skipped_steps.");
    }
}
