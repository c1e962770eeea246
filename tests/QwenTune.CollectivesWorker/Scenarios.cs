using QwenTune.Distributed;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.CollectivesWorker;

/// <summary>Runs each collective on tensors filled by <see cref="Fill"/> and records what this rank ends up holding.</summary>
internal sealed class Scenarios(ICollectives collectives, int seed)
{
    // Odd sizes, so no chunk happens to align with a vector width.
    private const int AllReduceElements = 75;
    private const int ChunkElements = 13;
    // Past Open MPI's small-message algorithms (segmented/pipelined paths from about 1 MB up).
    private const int LargeElements = (1 << 20) + 3;
    public static readonly long[] LargeSampleIndices = [0, 1, 6, 7, 12_345, 524_288, LargeElements - 1];

    private int Rank => collectives.Rank;

    private int WorldSize => collectives.WorldSize;

    public Dictionary<string, object> RunAll()
    {
        var results = new Dictionary<string, object>();
        void Record(string name, Func<object> scenario)
        {
            using var scope = NewDisposeScope();
            results[name] = scenario();
        }
        Record("allreduce_float32", () => AllReduce(ScalarType.Float32));
        Record("allreduce_bfloat16", () => AllReduce(ScalarType.BFloat16));
        Record("allreduce_float16", () => AllReduce(ScalarType.Float16));
        Record("allreduce_float64", () => AllReduce(ScalarType.Float64));
        Record("allreduce_int64", AllReduceInt64);
        Record("allreduce_float32_large", AllReduceLarge);
        Record("reducescatter_float32", () => ReduceScatter(ScalarType.Float32, async: false));
        Record("reducescatter_bfloat16", () => ReduceScatter(ScalarType.BFloat16, async: false));
        Record("allgather_float32", () => AllGather(ScalarType.Float32, inPlace: false));
        Record("allgather_bfloat16", () => AllGather(ScalarType.BFloat16, inPlace: false));
        Record("allgather_in_place", () => AllGather(ScalarType.Float32, inPlace: true));
        Record("gather_float32", () => Gather(ScalarType.Float32));
        Record("gather_bfloat16", () => Gather(ScalarType.BFloat16));
        Record("broadcast_float32", () => Broadcast(ScalarType.Float32));
        Record("broadcast_bfloat16", () => Broadcast(ScalarType.BFloat16));
        Record("async_allreduce_float32", () => AllReduceAsync(ScalarType.Float32));
        Record("async_allreduce_bfloat16", () => AllReduceAsync(ScalarType.BFloat16));
        Record("async_reducescatter_float32", () => ReduceScatter(ScalarType.Float32, async: true));
        Record("async_reducescatter_bfloat16", () => ReduceScatter(ScalarType.BFloat16, async: true));
        Record("scalar_sum", () => new[] { collectives.AllReduceSum(Rank + 0.5 + seed) });
        Record("scalar_max", () => new[] { collectives.AllReduceMax(-10.0 * Rank + seed) });
        Record("barrier", () => { collectives.Barrier(); return "passed"; });
        Record("error_non_contiguous", NonContiguousError);
        return results;
    }

    private Tensor Filled(long count, ScalarType dtype, int rank) =>
        tensor(Enumerable.Range(0, (int)count).Select(i => Fill.Float(rank, seed, i)).ToArray()).to(dtype);

    private static double[] Values(Tensor tensor) => tensor.to(ScalarType.Float64).data<double>().ToArray();

    private double[] AllReduce(ScalarType dtype)
    {
        var values = Filled(AllReduceElements, dtype, Rank).view(3, 25);
        collectives.AllReduceSum(values);
        return Values(values);
    }

    private long[] AllReduceInt64()
    {
        var values = tensor(Enumerable.Range(0, AllReduceElements).Select(i => Fill.Int64(Rank, seed, i)).ToArray());
        collectives.AllReduceSum(values);
        return values.data<long>().ToArray();
    }

    private double[] AllReduceLarge()
    {
        var values = Filled(LargeElements, ScalarType.Float32, Rank);
        collectives.AllReduceSum(values);
        var all = values.to(ScalarType.Float64).data<double>();
        return LargeSampleIndices.Select(i => all[i]).ToArray();
    }

    private double[] AllReduceAsync(ScalarType dtype)
    {
        var values = Filled(AllReduceElements, dtype, Rank);
        using var request = collectives.AllReduceSumAsync(values);
        // Overlapping work, as a trainer would run the next bucket's backward here.
        using (var busy = randn(64, 64))
            busy.matmul(busy).Dispose();
        _ = request.IsCompleted;
        request.Wait();
        return Values(values);
    }

    private double[] ReduceScatter(ScalarType dtype, bool async)
    {
        var input = Filled((long)WorldSize * ChunkElements, dtype, Rank);
        var output = zeros(ChunkElements, dtype);
        if (async)
        {
            using var request = collectives.ReduceScatterSumAsync(input, output);
            request.Wait();
        }
        else
            collectives.ReduceScatterSum(input, output);
        return Values(output);
    }

    private double[] AllGather(ScalarType dtype, bool inPlace)
    {
        var output = zeros((long)WorldSize * ChunkElements, dtype);
        var input = inPlace ? output.narrow(0, (long)Rank * ChunkElements, ChunkElements) : Filled(ChunkElements, dtype, Rank);
        if (inPlace)
            input.copy_(Filled(ChunkElements, dtype, Rank));
        collectives.AllGather(input, output);
        return Values(output);
    }

    /// <summary>To the last rank (not rank 0, so the root is really taken from the argument); the others get nothing.</summary>
    private double[] Gather(ScalarType dtype)
    {
        var root = WorldSize - 1;
        var output = Rank == root ? zeros((long)WorldSize * ChunkElements, dtype) : null;
        collectives.Gather(Filled(ChunkElements, dtype, Rank), output, root);
        return output is null ? [] : Values(output);
    }

    private double[] Broadcast(ScalarType dtype)
    {
        var values = Filled(AllReduceElements, dtype, Rank);
        collectives.Broadcast(values, root: WorldSize - 1);
        return Values(values);
    }

    private string NonContiguousError()
    {
        var transposed = Filled(AllReduceElements, ScalarType.Float32, Rank).view(3, 25).t();
        try
        {
            collectives.AllReduceSum(transposed);
            return "no error";
        }
        catch (QwenTuneException e)
        {
            return e.Message;
        }
    }
}
