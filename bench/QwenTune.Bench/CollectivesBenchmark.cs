using System.Diagnostics;
using QwenTune.Distributed;
using QwenTune.Distributed.Mpi;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>
/// All-reduce and reduce-scatter bus bandwidth over MPI for 1-256 MB float32 buffers, beside memcpy bandwidth of the same
/// sizes (every rank copying at once, as every rank reduces at once). Run it as ranks of one job:
///   dotnet build bench/QwenTune.Bench -c Release
///   mpirun --allow-run-as-root --bind-to none -np 2 -x TERM=dumb dotnet bench/QwenTune.Bench/bin/Release/net10.0/QwenTune.Bench.dll collectives [reps]
/// (--allow-run-as-root only as root). Rank 0 prints the JSON. Bus bandwidth follows nccl-tests: all-reduce moves
/// 2(W-1)/W of the buffer per rank, reduce-scatter (W-1)/W, so it is comparable across rank counts. Each time is the
/// slowest rank's, median of [reps] (default 5) after one warm-up.
/// </summary>
internal sealed class CollectivesBenchmark : IBenchmark
{
    private static readonly int[] SizesMb = [1, 4, 16, 64, 256];

    public string Name => "collectives";

    public string Description => "MPI all-reduce / reduce-scatter bus GB/s and memcpy GB/s, 1-256 MB float32 (run under mpirun)";

    public object? Run(IReadOnlyList<string> args)
    {
        var reps = args.Count > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 5;
        var environment = DistributedEnvironment.Detect();
        torch.set_num_threads(environment.ThreadsPerRank(Environment.ProcessorCount));
        using var collectives = Collectives.Create(environment, CPU, Console.Error);
        var worldSize = collectives.WorldSize;
        var rows = new List<object>();
        foreach (var megabytes in SizesMb)
        {
            using var scope = NewDisposeScope();
            var bytes = (long)megabytes << 20;
            var elements = bytes / sizeof(float);
            var buffer = ones(elements);
            var chunk = empty(elements / worldSize);
            var copy = empty(elements);
            var allReduce = MedianSeconds(collectives, reps, () => collectives.AllReduceSum(buffer));
            var reduceScatter = MedianSeconds(collectives, reps, () => collectives.ReduceScatterSum(buffer, chunk));
            var memcpy = MedianSeconds(collectives, reps, () => MemoryCopy(buffer, copy, bytes));
            rows.Add(new
            {
                megabytes,
                allreduce_ms = allReduce * 1e3,
                allreduce_bus_GBps = bytes / allReduce * 2.0 * (worldSize - 1) / worldSize / 1e9,
                reducescatter_ms = reduceScatter * 1e3,
                reducescatter_bus_GBps = bytes / reduceScatter * (worldSize - 1) / worldSize / 1e9,
                memcpy_ms = memcpy * 1e3,
                memcpy_GBps = bytes / memcpy / 1e9,
            });
        }
        if (collectives.Rank != 0)
            return null;
        return new
        {
            benchmark = Name,
            collectives = collectives.Description,
            world_size = worldSize,
            threads_per_rank = get_num_threads(),
            reps,
            sizes = rows,
        };
    }

    /// <summary>Median over <paramref name="reps"/> of the slowest rank's time, after one warm-up; ranks start together.</summary>
    private static double MedianSeconds(ICollectives collectives, int reps, Action operation)
    {
        operation();
        var times = new double[reps];
        for (var rep = 0; rep < reps; rep++)
        {
            collectives.Barrier();
            var clock = Stopwatch.StartNew();
            operation();
            times[rep] = collectives.AllReduceMax(clock.Elapsed.TotalSeconds);
        }
        Array.Sort(times);
        return times[reps / 2];
    }

    private static unsafe void MemoryCopy(Tensor source, Tensor destination, long bytes) =>
        Buffer.MemoryCopy((void*)TensorPointer.Of(source), (void*)TensorPointer.Of(destination), bytes, bytes);
}
