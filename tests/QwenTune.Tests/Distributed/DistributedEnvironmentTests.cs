using QwenTune.Distributed;

namespace QwenTune.Tests.Distributed;

public sealed class DistributedEnvironmentTests
{
    private static DistributedEnvironment Detect(params (string Name, string Value)[] variables) =>
        DistributedEnvironment.Detect(variables.ToDictionary(v => v.Name, v => (string?)v.Value));

    [Fact]
    public void No_launcher_variables_mean_a_single_process()
    {
        Assert.Equal(new DistributedEnvironment(0, 1, 0, 1, 0, "none"), Detect(("PATH", "/usr/bin")));
    }

    [Fact]
    public void Open_MPI_variables_give_rank_size_and_local_rank()
    {
        var environment = Detect(("OMPI_COMM_WORLD_RANK", "5"), ("OMPI_COMM_WORLD_SIZE", "8"),
            ("OMPI_COMM_WORLD_LOCAL_RANK", "1"), ("OMPI_COMM_WORLD_LOCAL_SIZE", "4"), ("OMPI_COMM_WORLD_NODE_RANK", "1"));
        // Rank 5 with 4 ranks per node, placed by slot: the second node.
        Assert.Equal(new DistributedEnvironment(5, 8, 1, 4, 1, "Open MPI"), environment);
    }

    [Fact]
    public void Slurm_variables_with_tasks_per_node_list_pick_this_nodes_count()
    {
        var environment = Detect(("SLURM_PROCID", "6"), ("SLURM_NTASKS", "7"), ("SLURM_LOCALID", "0"),
            ("SLURM_NODEID", "3"), ("SLURM_TASKS_PER_NODE", "2(x3),1"));
        Assert.Equal(new DistributedEnvironment(6, 7, 0, 1, 3, "Slurm"), environment);
        var second = Detect(("SLURM_PROCID", "3"), ("SLURM_NTASKS", "7"), ("SLURM_LOCALID", "1"),
            ("SLURM_NODEID", "1"), ("SLURM_TASKS_PER_NODE", "2(x3),1"));
        Assert.Equal(2, second.LocalWorldSize);
    }

    [Fact]
    public void Slurm_ntasks_per_node_wins_over_the_list()
    {
        var environment = Detect(("SLURM_PROCID", "1"), ("SLURM_NTASKS", "4"), ("SLURM_LOCALID", "1"),
            ("SLURM_NODEID", "0"), ("SLURM_NTASKS_PER_NODE", "2"), ("SLURM_TASKS_PER_NODE", "garbage"));
        Assert.Equal(new DistributedEnvironment(1, 4, 1, 2, 0, "Slurm"), environment);
    }

    [Fact]
    public void Open_MPI_is_preferred_when_mpirun_runs_inside_a_Slurm_allocation()
    {
        var environment = Detect(("SLURM_PROCID", "0"), ("SLURM_NTASKS", "1"), ("SLURM_LOCALID", "0"), ("SLURM_NODEID", "0"),
            ("SLURM_TASKS_PER_NODE", "1"), ("OMPI_COMM_WORLD_RANK", "1"), ("OMPI_COMM_WORLD_SIZE", "2"),
            ("OMPI_COMM_WORLD_LOCAL_RANK", "1"), ("OMPI_COMM_WORLD_LOCAL_SIZE", "2"));
        Assert.Equal("Open MPI", environment.Launcher);
        Assert.Equal(1, environment.Rank);
    }

    [Theory]
    [InlineData("OMPI_COMM_WORLD_RANK", "two")]
    [InlineData("OMPI_COMM_WORLD_RANK", "-1")]
    [InlineData("OMPI_COMM_WORLD_RANK", "4")]
    [InlineData("OMPI_COMM_WORLD_SIZE", "0")]
    [InlineData("OMPI_COMM_WORLD_LOCAL_RANK", "2")]
    [InlineData("OMPI_COMM_WORLD_LOCAL_SIZE", "1.5")]
    public void Malformed_Open_MPI_value_names_the_variable(string name, string value)
    {
        var variables = new Dictionary<string, string?>
        {
            ["OMPI_COMM_WORLD_RANK"] = "1", ["OMPI_COMM_WORLD_SIZE"] = "4",
            ["OMPI_COMM_WORLD_LOCAL_RANK"] = "1", ["OMPI_COMM_WORLD_LOCAL_SIZE"] = "2",
            [name] = value,
        };
        var error = Assert.Throws<QwenTuneException>(() => DistributedEnvironment.Detect(variables));
        Assert.Contains($"{name}=\"{value}\"", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("2(x)")]
    [InlineData("2(x3")]
    [InlineData("0")]
    [InlineData("2,,1")]
    public void Malformed_slurm_tasks_per_node_names_the_variable(string value)
    {
        var error = Assert.Throws<QwenTuneException>(() => Detect(("SLURM_PROCID", "0"), ("SLURM_NTASKS", "3"),
            ("SLURM_LOCALID", "0"), ("SLURM_NODEID", "0"), ("SLURM_TASKS_PER_NODE", value)));
        Assert.Contains("SLURM_TASKS_PER_NODE", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Slurm_node_beyond_the_tasks_per_node_list_is_refused()
    {
        var error = Assert.Throws<QwenTuneException>(() => Detect(("SLURM_PROCID", "0"), ("SLURM_NTASKS", "3"),
            ("SLURM_LOCALID", "0"), ("SLURM_NODEID", "2"), ("SLURM_TASKS_PER_NODE", "2,1")));
        Assert.Contains("SLURM_NODEID=2", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Torchrun_variables_are_refused_with_advice_to_use_mpirun()
    {
        var error = Assert.Throws<QwenTuneException>(() => Detect(("RANK", "0"), ("WORLD_SIZE", "2"), ("LOCAL_RANK", "0"), ("LOCAL_WORLD_SIZE", "2")));
        Assert.Contains("mpirun", error.Message, StringComparison.Ordinal);
        Assert.Equal(1, Detect(("RANK", "0"), ("WORLD_SIZE", "1")).WorldSize);
    }

    [Theory]
    [InlineData(2, 1, 2)]
    [InlineData(2, 2, 1)]
    [InlineData(2, 4, 1)]
    [InlineData(64, 8, 8)]
    [InlineData(10, 4, 2)]
    public void Threads_per_rank_split_the_node_cores_among_its_ranks(int cores, int ranksOnNode, int expected)
    {
        var environment = new DistributedEnvironment(0, ranksOnNode, 0, ranksOnNode, 0, "test");
        Assert.Equal(expected, environment.ThreadsPerRank(cores));
    }
}
