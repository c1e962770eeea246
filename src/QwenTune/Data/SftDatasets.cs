using System.Text;

namespace QwenTune.Data;

/// <summary>
/// All samples featurized up front, on <c>workers</c> threads when more than one (HF's dataloader_num_workers; 0 or 1:
/// this thread alone), in the data's order either way; those left without a target token are dropped and counted.
/// </summary>
public sealed class EagerSftDataset : ISftDataset
{
    private readonly List<SftExample> _examples;

    public EagerSftDataset(IReadOnlyList<ChatSample> samples, SftFeaturizer featurizer, int workers = 0)
    {
        var featurized = new SftExample?[samples.Count];
        if (workers > 1)
        {
            // The first bad sample in the data's order is the one reported, as without workers.
            var failures = new QwenTuneException?[samples.Count];
            Parallel.For(0, samples.Count, new ParallelOptions { MaxDegreeOfParallelism = workers }, i =>
            {
                try
                {
                    featurized[i] = featurizer.Featurize(samples[i]);
                }
                catch (QwenTuneException e)
                {
                    failures[i] = e;
                }
            });
            if (failures.FirstOrDefault(f => f is not null) is { } failure)
                throw failure;
        }
        else
        {
            for (var i = 0; i < samples.Count; i++)
                featurized[i] = featurizer.Featurize(samples[i]);
        }
        _examples = featurized.OfType<SftExample>().ToList();
        DroppedWithoutTargets = samples.Count - _examples.Count;
        if (_examples.Count == 0)
            throw new QwenTuneException($"no sample keeps a target token after truncation ({DroppedWithoutTargets} dropped); raise --model_max_length.");
    }

    /// <summary>Examples featurized elsewhere (tests, benchmarks, a reshaped vocabulary).</summary>
    public EagerSftDataset(IEnumerable<SftExample> examples)
    {
        _examples = examples.ToList();
        if (_examples.Count == 0)
            throw new QwenTuneException("no training example.");
    }

    public IReadOnlyList<SftExample> Examples => _examples;

    public int Count => _examples.Count;

    public int DroppedWithoutTargets { get; }

    public int LengthHint(int index) => _examples[index].InputIds.Length;

    public SftExample? Get(int index) => _examples[index];
}

/// <summary>
/// Samples featurized on first use, as Qwen's LazySupervisedDataset does, but with a bounded LRU cache
/// instead of one that grows with the data. Lengths for batch grouping come from UTF-8 byte counts
/// (a proxy; tokenizing just to group would defeat laziness).
/// </summary>
public sealed class LazySftDataset(IReadOnlyList<ChatSample> samples, SftFeaturizer featurizer, int cacheCapacity = 4096) : ISftDataset
{
    private readonly Dictionary<int, LinkedListNode<(int Index, SftExample? Example)>> _cache = [];
    private readonly LinkedList<(int Index, SftExample? Example)> _recency = new();
    private readonly HashSet<int> _dropped = [];
    private readonly int[] _lengthHints = samples.Select(s => s.Messages.Sum(m => Encoding.UTF8.GetByteCount(m["content"]?.ToString() ?? ""))).ToArray();

    public int Count => samples.Count;

    public int DroppedWithoutTargets => _dropped.Count;

    public int LengthHint(int index) => _lengthHints[index];

    public SftExample? Get(int index)
    {
        if (_cache.TryGetValue(index, out var node))
        {
            _recency.Remove(node);
            _recency.AddFirst(node);
            return node.Value.Example;
        }
        var example = featurizer.Featurize(samples[index]);
        if (example is null)
            _dropped.Add(index);
        _cache[index] = _recency.AddFirst((index, example));
        if (_cache.Count > cacheCapacity)
        {
            _cache.Remove(_recency.Last!.Value.Index);
            _recency.RemoveLast();
        }
        return example;
    }
}
