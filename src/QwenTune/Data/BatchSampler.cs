namespace QwenTune.Data;

/// <summary>
/// The order in which samples are visited in an epoch, deterministic in (seed, epoch). With length grouping
/// it follows Hugging Face's LengthGroupedSampler: a random permutation cut into mega-batches of up to 50
/// batches, each sorted by length (longest first), and the longest mega-batch head moved to the very front so
/// that an out-of-memory shows at the first step rather than hours in.
/// </summary>
public static class BatchSampler
{
    public static int[] EpochOrder(IReadOnlyList<int> lengths, int groupSize, bool groupByLength, int seed, int epoch)
    {
        var order = Permutation(lengths.Count, seed, epoch);
        if (!groupByLength || lengths.Count <= 1)
            return order;
        var megaBatchMultiple = Math.Max(1, Math.Min(lengths.Count / (groupSize * 4), 50));
        var megaBatchSize = megaBatchMultiple * groupSize;
        var megaBatches = order.Chunk(megaBatchSize)
            .Select(chunk => chunk.OrderByDescending(i => lengths[i]).ToArray())   // stable: ties keep shuffled order
            .ToArray();
        var longest = Enumerable.Range(0, megaBatches.Length).MaxBy(m => lengths[megaBatches[m][0]]);
        (megaBatches[0][0], megaBatches[longest][0]) = (megaBatches[longest][0], megaBatches[0][0]);
        return megaBatches.SelectMany(m => m).ToArray();
    }

    /// <summary>Fisher-Yates with a seeded System.Random (its seeded algorithm is fixed across .NET versions).</summary>
    public static int[] Permutation(int count, int seed, int epoch)
    {
        var random = new Random(unchecked(seed * 1_000_003 + epoch));
        var order = Enumerable.Range(0, count).ToArray();
        for (var i = count - 1; i > 0; i--)
        {
            var j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }
}
