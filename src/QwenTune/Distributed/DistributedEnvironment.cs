using System.Collections;
using System.Globalization;
using System.Text.RegularExpressions;

namespace QwenTune.Distributed;

/// <summary>
/// Who this process is in a multi-process job, read from the launcher's environment variables before MPI starts
/// (to pick the device and thread count). <see cref="NodeRank"/> is the index of this process's node.
/// </summary>
public sealed partial record DistributedEnvironment(int Rank, int WorldSize, int LocalRank, int LocalWorldSize, int NodeRank, string Launcher)
{
    public static DistributedEnvironment SingleProcess { get; } = new(0, 1, 0, 1, 0, "none");

    /// <summary>
    /// Reads Open MPI's (<c>mpirun</c>) or Slurm's (<c>srun</c>) variables from <paramref name="environment"/>
    /// (default: this process's environment); a process started by neither is a single process. torchrun's
    /// variables are refused: its ranks have no MPI world to join.
    /// </summary>
    public static DistributedEnvironment Detect(IReadOnlyDictionary<string, string?>? environment = null)
    {
        environment ??= ProcessEnvironment();
        var variables = new LauncherVariables(environment);
        if (variables.Has("OMPI_COMM_WORLD_RANK"))
            return FromOpenMpi(variables);
        if (variables.Has("SLURM_PROCID") && variables.Has("SLURM_NTASKS"))
            return FromSlurm(variables);
        if (variables.Has("WORLD_SIZE") && variables.Int("WORLD_SIZE", minimum: 1) > 1)
            throw new QwenTuneException(
                "RANK/WORLD_SIZE are set (torchrun or torch.distributed.launch) but QwenTune's ranks communicate over MPI: " +
                "launch with `mpirun -np N qwentune ...` (or srun under Slurm) instead.");
        return SingleProcess;
    }

    /// <summary>Threads each rank may use so that the ranks on one node do not oversubscribe its cores.</summary>
    public int ThreadsPerRank(int coresOnNode) => Math.Max(1, coresOnNode / LocalWorldSize);

    private static DistributedEnvironment FromOpenMpi(LauncherVariables variables)
    {
        var worldSize = variables.Int("OMPI_COMM_WORLD_SIZE", minimum: 1);
        var rank = variables.Int("OMPI_COMM_WORLD_RANK", minimum: 0, below: worldSize);
        var localWorldSize = variables.Int("OMPI_COMM_WORLD_LOCAL_SIZE", minimum: 1, atMost: worldSize);
        var localRank = variables.Int("OMPI_COMM_WORLD_LOCAL_RANK", minimum: 0, below: localWorldSize);
        // OMPI_COMM_WORLD_NODE_RANK is a rank within the node across all jobs, not the node's index, and Open MPI
        // exports no node index; with mpirun's default by-slot mapping, ranks fill node after node.
        return new(rank, worldSize, localRank, localWorldSize, rank / localWorldSize, "Open MPI");
    }

    private static DistributedEnvironment FromSlurm(LauncherVariables variables)
    {
        var worldSize = variables.Int("SLURM_NTASKS", minimum: 1);
        var rank = variables.Int("SLURM_PROCID", minimum: 0, below: worldSize);
        var nodeRank = variables.Int("SLURM_NODEID", minimum: 0);
        var localWorldSize = variables.Has("SLURM_NTASKS_PER_NODE")
            ? variables.Int("SLURM_NTASKS_PER_NODE", minimum: 1, atMost: worldSize)
            : TasksOnNode(variables, nodeRank);
        var localRank = variables.Int("SLURM_LOCALID", minimum: 0, below: localWorldSize);
        return new(rank, worldSize, localRank, localWorldSize, nodeRank, "Slurm");
    }

    /// <summary>Expands SLURM_TASKS_PER_NODE ("2(x3),1" = 2, 2, 2, 1 tasks on nodes 0-3) and picks this node's count.</summary>
    private static int TasksOnNode(LauncherVariables variables, int nodeRank)
    {
        const string name = "SLURM_TASKS_PER_NODE";
        var text = variables.Required(name);
        var counts = new List<int>();
        foreach (var part in text.Split(','))
        {
            var match = TasksPerNodePart().Match(part.Trim());
            if (!match.Success)
                throw variables.Malformed(name, "a list like \"2(x3),1\"");
            var tasks = int.Parse(match.Groups["tasks"].Value, CultureInfo.InvariantCulture);
            var repeat = match.Groups["repeat"].Success ? int.Parse(match.Groups["repeat"].Value, CultureInfo.InvariantCulture) : 1;
            if (tasks < 1 || repeat < 1)
                throw variables.Malformed(name, "positive task counts");
            counts.AddRange(Enumerable.Repeat(tasks, repeat));
        }
        if (nodeRank >= counts.Count)
            throw new QwenTuneException($"SLURM_NODEID={nodeRank} but {name}=\"{text}\" lists only {counts.Count} node(s).");
        return counts[nodeRank];
    }

    private static Dictionary<string, string?> ProcessEnvironment() =>
        Environment.GetEnvironmentVariables().Cast<DictionaryEntry>()
            .ToDictionary(entry => (string)entry.Key, entry => (string?)entry.Value, StringComparer.Ordinal);

    [GeneratedRegex(@"^(?<tasks>\d{1,9})(\(x(?<repeat>\d{1,9})\))?$")]
    private static partial Regex TasksPerNodePart();
}
