using System.Text.RegularExpressions;

namespace QwenTune.Tests.Distributed;

/// <summary>
/// Every collective of <see cref="QwenTune.Distributed.Mpi.MpiCollectives"/>, run by real mpirun ranks
/// (the collectives worker) and checked on every rank against sums computed here from the inputs' formula.
/// </summary>
public abstract class CollectivesScenarioTests(CollectivesRun run)
{
    private IEnumerable<int> Ranks => Enumerable.Range(0, run.Ranks);

    [Theory]
    [InlineData("allreduce_float32")]
    [InlineData("allreduce_float64")]
    [InlineData("allreduce_float16")]
    public void All_reduce_sums_every_element_over_the_ranks(string scenario)
    {
        Func<double, double> round = scenario.EndsWith("float16", StringComparison.Ordinal) ? WorkerInputs.RoundToFloat16 : x => x;
        var expected = Enumerable.Range(0, WorkerInputs.AllReduceElements).Select(i => round(WorkerInputs.Sum(run.Ranks, i))).ToArray();
        foreach (var rank in Ranks)
            Assert.Equal(expected, run.Doubles(rank, scenario));
    }

    [Theory]
    [InlineData("allreduce_bfloat16")]
    [InlineData("async_allreduce_bfloat16")]
    public void All_reduce_of_bfloat16_accumulates_in_float32_and_rounds_once(string scenario)
    {
        var expected = Enumerable.Range(0, WorkerInputs.AllReduceElements).Select(i => WorkerInputs.RoundToBFloat16(WorkerInputs.Sum(run.Ranks, i))).ToArray();
        foreach (var rank in Ranks)
            Assert.Equal(expected, run.Doubles(rank, scenario));
        if (run.Ranks == 4)
            // 256 + 1 + 1 + 1: pairwise bfloat16 sums stay at 256; one rounding of 259 gives 260.
            Assert.Equal(260.0, run.Doubles(0, scenario)[0]);
    }

    [Fact]
    public void All_reduce_of_int64_is_exact_past_2_pow_53()
    {
        var expected = Enumerable.Range(0, WorkerInputs.AllReduceElements)
            .Select(i => Ranks.Aggregate(0L, (sum, rank) => sum + WorkerInputs.Int64(rank, i))).ToArray();
        foreach (var rank in Ranks)
            Assert.Equal(expected, run.Longs(rank, "allreduce_int64"));
    }

    [Fact]
    public void All_reduce_of_4_MB_matches_at_sampled_elements()
    {
        var expected = WorkerInputs.LargeSampleIndices.Select(i => WorkerInputs.Sum(run.Ranks, i)).ToArray();
        foreach (var rank in Ranks)
            Assert.Equal(expected, run.Doubles(rank, "allreduce_float32_large"));
    }

    [Fact]
    public void Async_all_reduce_holds_the_sum_after_wait()
    {
        var expected = Enumerable.Range(0, WorkerInputs.AllReduceElements).Select(i => WorkerInputs.Sum(run.Ranks, i)).ToArray();
        foreach (var rank in Ranks)
            Assert.Equal(expected, run.Doubles(rank, "async_allreduce_float32"));
    }

    [Theory]
    [InlineData("reducescatter_float32")]
    [InlineData("reducescatter_bfloat16")]
    [InlineData("async_reducescatter_float32")]
    [InlineData("async_reducescatter_bfloat16")]
    public void Reduce_scatter_leaves_each_rank_its_chunk_of_the_sum(string scenario)
    {
        Func<double, double> round = scenario.EndsWith("bfloat16", StringComparison.Ordinal) ? WorkerInputs.RoundToBFloat16 : x => x;
        const int n = WorkerInputs.ChunkElements;
        foreach (var rank in Ranks)
        {
            var expected = Enumerable.Range(rank * n, n).Select(i => round(WorkerInputs.Sum(run.Ranks, i))).ToArray();
            Assert.Equal(expected, run.Doubles(rank, scenario));
        }
    }

    [Theory]
    [InlineData("allgather_float32")]
    [InlineData("allgather_bfloat16")]
    [InlineData("allgather_in_place")]
    public void All_gather_puts_rank_r_input_at_r_times_n(string scenario)
    {
        const int n = WorkerInputs.ChunkElements;
        var expected = Ranks.SelectMany(source => Enumerable.Range(0, n).Select(i => WorkerInputs.Float(source, i))).ToArray();
        foreach (var rank in Ranks)
            Assert.Equal(expected, run.Doubles(rank, scenario));
    }

    [Theory]
    [InlineData("gather_float32")]
    [InlineData("gather_bfloat16")]
    public void Gather_puts_rank_r_input_at_r_times_n_on_the_root_alone(string scenario)
    {
        const int n = WorkerInputs.ChunkElements;
        var root = run.Ranks - 1;
        var expected = Ranks.SelectMany(source => Enumerable.Range(0, n).Select(i => WorkerInputs.Float(source, i))).ToArray();
        foreach (var rank in Ranks)
            Assert.Equal(rank == root ? expected : [], run.Doubles(rank, scenario));
    }

    [Theory]
    [InlineData("broadcast_float32")]
    [InlineData("broadcast_bfloat16")]
    public void Broadcast_gives_every_rank_the_roots_tensor(string scenario)
    {
        var root = run.Ranks - 1;
        var expected = Enumerable.Range(0, WorkerInputs.AllReduceElements).Select(i => WorkerInputs.Float(root, i)).ToArray();
        foreach (var rank in Ranks)
            Assert.Equal(expected, run.Doubles(rank, scenario));
    }

    [Fact]
    public void Scalar_sum_and_max_reduce_over_the_ranks()
    {
        var sum = Ranks.Sum(rank => rank + 0.5 + CollectivesRun.Seed);
        var max = Ranks.Max(rank => -10.0 * rank + CollectivesRun.Seed);
        foreach (var rank in Ranks)
        {
            Assert.Equal([sum], run.Doubles(rank, "scalar_sum"));
            Assert.Equal([max], run.Doubles(rank, "scalar_max"));
            Assert.Equal("passed", run.Text(rank, "barrier"));
        }
    }

    [Fact]
    public void Non_contiguous_tensor_is_refused_with_a_message_saying_what_to_do()
    {
        foreach (var rank in Ranks)
        {
            var message = run.Text(rank, "error_non_contiguous");
            Assert.Contains("contiguous CPU tensor", message, StringComparison.Ordinal);
            Assert.Contains(".contiguous()", message, StringComparison.Ordinal);
        }
    }

    [Fact]
    public void Rank_zero_logs_the_chosen_path_once()
    {
        var lines = Regex.Matches(run.Stdout, $@"^collectives: Open MPI v[0-9.]+, {run.Ranks} ranks, CPU tensors over MPI$", RegexOptions.Multiline);
        Assert.Single(lines);
    }

    [Fact]
    public void Detect_under_mpirun_agrees_with_MPI_about_every_rank()
    {
        foreach (var rank in Ranks)
        {
            var report = run.Reports[rank];
            var environment = report.GetProperty("environment");
            Assert.Equal(rank, report.GetProperty("rank").GetInt32());
            Assert.Equal(run.Ranks, report.GetProperty("world_size").GetInt32());
            Assert.Equal(rank, environment.GetProperty("Rank").GetInt32());
            Assert.Equal(run.Ranks, environment.GetProperty("WorldSize").GetInt32());
            Assert.Equal(rank, environment.GetProperty("LocalRank").GetInt32());
            Assert.Equal(run.Ranks, environment.GetProperty("LocalWorldSize").GetInt32());
            Assert.Equal(0, environment.GetProperty("NodeRank").GetInt32());
            Assert.Equal("Open MPI", environment.GetProperty("Launcher").GetString());
        }
    }
}
