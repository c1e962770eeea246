namespace QwenTune.Tests.Distributed;

/// <summary>
/// The collectives worker's inputs, restated (tests/QwenTune.CollectivesWorker/Fill.cs), so that expected results
/// come from arithmetic here and not from the code under test.
/// </summary>
internal static class WorkerInputs
{
    public const int AllReduceElements = 75;
    public const int ChunkElements = 13;
    public const long LargeElements = (1 << 20) + 3;
    public static readonly long[] LargeSampleIndices = [0, 1, 6, 7, 12_345, 524_288, LargeElements - 1];

    public static long Base(int rank, long index) =>
        index % 7 == 0 ? (rank == 0 ? 1024 : 4) : (rank + 1) * ((index * 13 + CollectivesRun.Seed) % 17 - 8);

    public static double Float(int rank, long index) => Base(rank, index) * 0.25;

    public static long Int64(int rank, long index) => (1L << 53) + Base(rank, index) * 3 + rank;

    /// <summary>Σ over ranks of element <paramref name="index"/>, exact in float64 (small multiples of 1/4).</summary>
    public static double Sum(int ranks, long index) => Enumerable.Range(0, ranks).Sum(rank => Float(rank, index));

    /// <summary>Round to nearest even of a float32 to bfloat16 (drop the low 16 bits of the float32).</summary>
    public static double RoundToBFloat16(double value)
    {
        var bits = BitConverter.SingleToUInt32Bits((float)value);
        var rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) & 0xFFFF0000u;
        return BitConverter.UInt32BitsToSingle(rounded);
    }

    public static double RoundToFloat16(double value) => (double)(Half)value;
}
