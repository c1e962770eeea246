using QwenTune.Data;

namespace QwenTune.Tests.Data;

public sealed class SamplePackerTests
{
    [Fact]
    public void Best_fit_decreasing_puts_each_sample_in_the_fullest_row_it_fits()
    {
        // By hand, capacity 8, longest first: 5 opens row 0 (room 3); 4 opens row 1 (room 4); the first 3 fits both and
        // takes row 0, the fuller (room 0); the second 3 goes to row 1 (room 1); 2 fits nowhere and opens row 2 (room 6);
        // 1 fits rows 1 and 2 and takes row 1, the fuller.
        var rows = SamplePacker.Pack([5, 4, 3, 3, 2, 1], capacity: 8);
        Assert.Equal([[0, 2], [1, 3, 5], [4]], rows);
    }

    [Theory]
    [InlineData(1, 64)]
    [InlineData(2, 512)]
    [InlineData(3, 100)]
    public void Every_sample_lands_in_exactly_one_row_within_capacity(int seed, int capacity)
    {
        var random = new Random(seed);
        var lengths = Enumerable.Range(0, 300).Select(_ => random.Next(1, capacity + 1)).ToArray();
        var rows = SamplePacker.Pack(lengths, capacity);
        Assert.Equal(Enumerable.Range(0, lengths.Length), rows.SelectMany(r => r).Order());
        Assert.All(rows, row => Assert.InRange(row.Sum(i => lengths[i]), 1, capacity));
        // Best fit leaves at most one row half empty or emptier: two such rows would have been merged.
        Assert.True(rows.Count(row => row.Sum(i => lengths[i]) * 2 <= capacity) <= 1);
    }

    [Fact]
    public void A_sample_longer_than_a_row_is_refused()
    {
        Assert.Throws<ArgumentException>(() => SamplePacker.Pack([3, 9], capacity: 8));
    }
}
