namespace QwenTune.CollectivesWorker;

/// <summary>
/// The deterministic inputs of every rank. The tests restate this formula to compute the expected sums on their own.
/// Every 7th element is 256 on rank 0 and 1 elsewhere: summed in bfloat16 pairwise, 256 + 1 rounds back to 256, so
/// with 4 ranks only a float32 accumulation gives round(259) = 260.
/// </summary>
internal static class Fill
{
    public static long Base(int rank, int seed, long index) =>
        index % 7 == 0 ? (rank == 0 ? 1024 : 4) : (rank + 1) * ((index * 13 + seed) % 17 - 8);

    public static double Float(int rank, int seed, long index) => Base(rank, seed, index) * 0.25;

    // Above 2^53, so a sum that went through float64 would lose the low bits.
    public static long Int64(int rank, int seed, long index) => (1L << 53) + Base(rank, seed, index) * 3 + rank;
}
