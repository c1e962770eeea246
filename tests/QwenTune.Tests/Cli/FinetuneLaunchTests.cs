using System.Diagnostics;
using System.Net;
using System.Net.NetworkInformation;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace QwenTune.Tests.Cli;

/// <summary>
/// finetune.sh's launch: one process runs `qwentune train` directly, more run it as mpirun ranks. Checked through
/// FINETUNE_DRY_RUN=1, which prints the command instead of running it, so no case here builds or trains.
/// </summary>
public sealed partial class FinetuneLaunchTests
{
    private static readonly string Qwentune = Path.Combine(Fixtures.RepositoryRoot, "qwentune");

    private static readonly string[] UserArgs = ["--max_steps", "2", "--output_dir", "/tmp/ft-launch-test", "--learning_rate", "1e-4"];

    [Fact]
    public void Two_ranks_on_one_machine_run_the_single_process_command_under_mpirun()
    {
        var single = DryRun(new() { ["GPUS_PER_NODE"] = "1" });
        var ranks = DryRun(new() { ["GPUS_PER_NODE"] = "2" });

        Assert.Equal("mpirun", ranks[0]);
        AssertAdjacent(ranks, "-np", "2");
        AssertAdjacent(ranks, "--bind-to", "none");
        Assert.Contains("--tag-output", ranks);
        Assert.Equal(RunningAsRoot(), ranks.Contains("--allow-run-as-root"));
        Assert.Equal(2 > Environment.ProcessorCount, ranks.Contains("--oversubscribe"));
        Assert.DoesNotContain("--hostfile", ranks);
        // Every rank runs exactly what one process would run, the user's flags last and unchanged.
        Assert.Equal(single, ranks[^single.Count..]);
        Assert.Equal(Qwentune, single[0]);
        Assert.Equal("train", single[1]);
        Assert.Equal(UserArgs, single[^UserArgs.Length..]);
    }

    [Fact]
    public void More_ranks_than_cores_oversubscribe()
    {
        var three = DryRun(new() { ["GPUS_PER_NODE"] = "3" });
        AssertAdjacent(three, "-np", "3");
        Assert.Equal(3 > Environment.ProcessorCount, three.Contains("--oversubscribe"));

        var beyond = (Environment.ProcessorCount + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Contains("--oversubscribe", DryRun(new() { ["GPUS_PER_NODE"] = beyond }));
    }

    [Fact]
    public void Two_nodes_with_a_hostfile_are_launched_from_node_0()
    {
        using var folder = new TempFolder();
        var hostfile = folder.File("hosts");
        File.WriteAllText(hostfile, "node1 slots=2\nnode2 slots=2\n");
        var command = DryRun(new() { ["GPUS_PER_NODE"] = "2", ["NNODES"] = "2", ["NODE_RANK"] = "0", ["HOSTFILE"] = hostfile });

        Assert.Equal("mpirun", command[0]);
        AssertAdjacent(command, "-np", "4");
        AssertAdjacent(command, "--hostfile", hostfile);
        AssertAdjacent(command, "-npernode", "2");
        Assert.Equal(UserArgs, command[^UserArgs.Length..]);
    }

    [Fact]
    public void Inside_a_Slurm_allocation_mpirun_reads_the_nodes_itself()
    {
        var command = DryRun(new() { ["GPUS_PER_NODE"] = "2", ["SLURM_JOB_NODELIST"] = "node[1-3]", ["SLURM_JOB_NUM_NODES"] = "3", ["SLURM_NODEID"] = "0" });

        AssertAdjacent(command, "-np", "6");     // NNODES defaults to the allocation's node count
        AssertAdjacent(command, "-npernode", "2");
        Assert.DoesNotContain("--hostfile", command);
    }

    [Fact]
    public void Other_nodes_leave_the_launch_to_node_0()
    {
        var (code, stdout, stderr) = Finetune(new() { ["FINETUNE_DRY_RUN"] = "1", ["NNODES"] = "2", ["NODE_RANK"] = "1" });
        Assert.Equal(0, code);
        Assert.Equal("", stdout);
        Assert.Contains("node 0 starts the ranks of every node", stderr);
    }

    [Fact]
    public void Two_nodes_without_a_hostfile_or_Slurm_are_refused()
    {
        var (code, stdout, stderr) = Finetune(new() { ["FINETUNE_DRY_RUN"] = "1", ["NNODES"] = "2" });
        Assert.NotEqual(0, code);
        Assert.Equal("", stdout);
        Assert.Contains("HOSTFILE", stderr);
        Assert.Contains("Slurm", stderr);
    }

    [Fact]
    public void One_process_runs_qwentune_itself()
    {
        var command = DryRun(new() { ["GPUS_PER_NODE"] = "1" });
        Assert.Equal(Qwentune, command[0]);
        Assert.DoesNotContain("mpirun", command);
    }

    /// <summary>
    /// No nvidia-smi means one process; no dotnet on PATH proves the dry run neither builds the CLI nor initialises
    /// the default model.
    /// </summary>
    [Fact]
    public void Without_nvidia_smi_the_default_is_one_process_and_the_dry_run_needs_no_dotnet()
    {
        using var bin = new TempFolder();
        LinkTools(bin.Path, "bash", "dirname", "find", "env", "nproc", "sort", "grep", "mpirun");
        var (code, stdout, stderr) = Finetune(new() { ["FINETUNE_DRY_RUN"] = "1", ["PATH"] = bin.Path });
        Assert.True(code == 0, stderr);
        Assert.Equal(Qwentune, Tokens(stdout)[0]);
    }

    [Fact]
    public void Missing_mpirun_names_the_packages_to_install()
    {
        using var bin = new TempFolder();
        LinkTools(bin.Path, "bash", "dotnet", "dirname", "find", "env", "nproc", "sort", "grep");
        // Not a dry run: the real launch must stop before building or training.
        var (code, stdout, stderr) = Finetune(new() { ["GPUS_PER_NODE"] = "2", ["PATH"] = bin.Path });
        Assert.NotEqual(0, code);
        Assert.Equal("", stdout);
        Assert.Contains("mpirun", stderr);
        Assert.Contains("openmpi-bin libopenmpi-dev", stderr);
    }

    [Fact]
    public void Relative_paths_are_made_absolute_and_ranks_start_in_the_callers_folder()
    {
        using var folder = new TempFolder();
        var command = DryRun(new() { ["GPUS_PER_NODE"] = "2" }, ["-d", "data.jsonl", "--deepspeed", "ds.json"], folder.Path);
        AssertAdjacent(command, "-wdir", folder.Path);
        AssertAdjacent(command, "--data_path", folder.File("data.jsonl"));
        AssertAdjacent(command, "--deepspeed", folder.File("ds.json"));
    }

    [Fact]
    public void Hub_ids_pass_through_and_local_model_folders_become_absolute()
    {
        using var folder = new TempFolder();
        Directory.CreateDirectory(folder.File(Path.Combine("models", "mine")));
        var hub = DryRun(new() { ["GPUS_PER_NODE"] = "2" }, ["-m", "Qwen/Qwen2.5-0.5B-Instruct"], folder.Path);
        AssertAdjacent(hub, "--model_name_or_path", "Qwen/Qwen2.5-0.5B-Instruct");
        var local = DryRun(new() { ["GPUS_PER_NODE"] = "2" }, ["-m", "models/mine"], folder.Path);
        AssertAdjacent(local, "--model_name_or_path", folder.File("models/mine"));
    }

    [Fact]
    public void Environment_for_every_rank_is_exported()
    {
        var command = DryRun(new() { ["GPUS_PER_NODE"] = "2", ["QWENTUNE_LAUNCH_TEST"] = "1", ["OMP_NUM_THREADS"] = "1", ["UNRELATED_LAUNCH_TEST"] = "1" });
        AssertAdjacent(command, "-x", "TERM=dumb");
        AssertAdjacent(command, "-x", "QWENTUNE_LAUNCH_TEST");
        AssertAdjacent(command, "-x", "OMP_NUM_THREADS");
        Assert.DoesNotContain("UNRELATED_LAUNCH_TEST", command);
        // OMP_NUM_THREADS limits nproc's answer but not the cores mpirun can use.
        Assert.Equal(2 > Environment.ProcessorCount, command.Contains("--oversubscribe"));
    }

    [SkippableFact]
    public void Master_addr_selects_the_network_between_nodes()
    {
        var address = NetworkInterface.GetAllNetworkInterfaces()
            .Where(nic => nic.OperationalStatus == OperationalStatus.Up && nic.NetworkInterfaceType != NetworkInterfaceType.Loopback)
            .SelectMany(nic => nic.GetIPProperties().UnicastAddresses)
            .FirstOrDefault(a => a.Address.AddressFamily == AddressFamily.InterNetwork && !IPAddress.IsLoopback(a.Address));
        Skip.If(address is null, "this machine has no non-loopback IPv4 address");
        Skip.If(ToolPath("ip") is null, "no 'ip' command (iproute2) here");
        using var folder = new TempFolder();
        var hostfile = folder.File("hosts");
        File.WriteAllText(hostfile, "node1\nnode2\n");
        var nodes = new Dictionary<string, string> { ["NNODES"] = "2", ["HOSTFILE"] = hostfile };

        var network = $"{new IPNetwork(Masked(address.Address, address.PrefixLength), address.PrefixLength)}";
        var command = DryRun(new(nodes) { ["MASTER_ADDR"] = address.Address.ToString() });
        AssertAdjacent(command, "oob_tcp_if_include", network);
        AssertAdjacent(command, "btl_tcp_if_include", network);

        Assert.DoesNotContain("--mca", DryRun(new(nodes) { ["MASTER_ADDR"] = "localhost" }));
    }

    private static IPAddress Masked(IPAddress address, int prefixLength)
    {
        var bytes = address.GetAddressBytes();
        for (var bit = prefixLength; bit < 32; bit++)
            bytes[bit / 8] &= (byte)~(0x80 >> (bit % 8));
        return new IPAddress(bytes);
    }

    private static List<string> DryRun(Dictionary<string, string> environment, string[]? args = null, string? workingDirectory = null)
    {
        environment["FINETUNE_DRY_RUN"] = "1";
        var (code, stdout, stderr) = Finetune(environment, args, workingDirectory);
        Assert.True(code == 0, stderr);
        Assert.Single(stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        return Tokens(stdout);
    }

    /// <summary>The dry run's line split into words; the paths these tests use need no quoting.</summary>
    private static List<string> Tokens(string line) => line.Trim().Split(' ').ToList();

    private static (int ExitCode, string Stdout, string Stderr) Finetune(Dictionary<string, string> environment, string[]? args = null, string? workingDirectory = null) =>
        FinetuneScript.Run((args ?? []).Concat(UserArgs), environment, TimeSpan.FromSeconds(30), workingDirectory);

    private static void AssertAdjacent(List<string> command, string first, string second)
    {
        var found = Enumerable.Range(0, command.Count - 1).Any(i => command[i] == first && command[i + 1] == second);
        Assert.True(found, $"expected '{first} {second}' in: {string.Join(' ', command)}");
    }

    /// <summary>Fills <paramref name="folder"/> with links to the named tools, to serve as a PATH holding only them.</summary>
    private static void LinkTools(string folder, params string[] tools)
    {
        foreach (var tool in tools)
            File.CreateSymbolicLink(Path.Combine(folder, tool), ToolPath(tool) ?? throw new InvalidOperationException($"{tool} is not on PATH"));
    }

    private static string? ToolPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(folder => Path.Combine(folder, tool))
            .FirstOrDefault(File.Exists);

    private static bool RunningAsRoot() => GetEffectiveUserId() == 0;

    [LibraryImport("libc", EntryPoint = "geteuid")]
    private static partial uint GetEffectiveUserId();
}
