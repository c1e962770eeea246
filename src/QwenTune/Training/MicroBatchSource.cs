using QwenTune.Data;

namespace QwenTune.Training;

/// <summary>
/// The micro-batches of each optimizer step, derived from the step index alone (epoch order from the seed,
/// position from the plan), so a resumed run sees exactly the batches the uninterrupted run would have.
/// In data-parallel runs rank r takes every world_size-th sample of the epoch order, and every rank returns the same
/// number of micro-batches: a rank whose share has run out gets a zero-weight placeholder (<see cref="Batch.IsPlaceholder"/>).
/// </summary>
public sealed class MicroBatchSource(
    ISftDataset dataset, TrainingPlan plan, Collator collator, bool groupByLength, int seed, int rank = 0, int worldSize = 1)
{
    private int _cachedEpoch = -1;
    private int[] _epochOrder = [];

    public List<Batch> ForStep(int step)
    {
        var (epoch, first, count) = plan.Locate(step);
        var order = EpochOrder(epoch);
        var batches = new List<Batch>(count);
        for (var m = first; m < first + count; m++)
        {
            var examples = order.Skip(m * plan.BatchSize).Take(plan.BatchSize)
                .Select(dataset.Get)
                .OfType<SftExample>()
                .ToList();
            if (examples.Count > 0)
                batches.Add(collator.Collate(examples));
            else if (worldSize > 1 && order.Select(dataset.Get).OfType<SftExample>().FirstOrDefault() is { } standIn)
                batches.Add(collator.Collate([standIn]).AsPlaceholder());
        }
        return batches;
    }

    private int[] EpochOrder(int epoch)
    {
        if (epoch != _cachedEpoch)
        {
            var lengths = Enumerable.Range(0, dataset.Count).Select(dataset.LengthHint).ToArray();
            var global = BatchSampler.EpochOrder(lengths, plan.BatchSize * worldSize, groupByLength, seed, epoch);
            _epochOrder = global.Where((_, position) => position % worldSize == rank).ToArray();
            _cachedEpoch = epoch;
        }
        return _epochOrder;
    }
}
