namespace QwenTune.Data;

/// <summary>
/// Assigns samples to rows of at most <c>capacity</c> tokens by best-fit decreasing, as TRL's default "bfd"
/// packing does: longest sample first, each into the fullest row it still fits in (a new row when none has room).
/// Deterministic in the lengths alone (ties go by sample index), so every rank and every resumed run packs alike.
/// </summary>
public static class SamplePacker
{
    /// <returns>Per row, the sample indices it holds, in the order they were placed (longest first).</returns>
    public static List<List<int>> Pack(IReadOnlyList<int> lengths, int capacity)
    {
        if (capacity <= 0)
            throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "a row must hold at least one token");
        var rows = new List<List<int>>();
        // Open rows by (room left, row index): the smallest room that fits is the best fit.
        var openRows = new SortedSet<(int Room, int Row)>();
        var bySize = Enumerable.Range(0, lengths.Count).OrderByDescending(i => lengths[i]);   // stable: ties by index
        foreach (var sample in bySize)
        {
            var length = lengths[sample];
            if (length > capacity)
                throw new ArgumentException($"sample {sample} has {length} tokens, more than a row's {capacity}", nameof(lengths));
            var fit = openRows.GetViewBetween((length, 0), (int.MaxValue, int.MaxValue));
            if (fit.Count == 0)
            {
                rows.Add([sample]);
                if (capacity - length > 0)
                    openRows.Add((capacity - length, rows.Count - 1));
                continue;
            }
            var (room, row) = fit.Min;
            openRows.Remove((room, row));
            rows[row].Add(sample);
            if (room - length > 0)
                openRows.Add((room - length, row));
        }
        return rows;
    }
}
