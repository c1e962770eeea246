using System.Diagnostics;
using System.Text.Json;
using QwenTune.CollectivesWorker;
using QwenTune.Distributed;
using TorchSharp;
using static TorchSharp.torch;

// One rank of the collectives tests. Usage: QwenTune.CollectivesWorker <collectives|abort|exit|kill> <output dir> <seed>
// "collectives" runs every scenario and writes rank<r>.json to the output dir; the others make rank 1 fail while
// rank 0 waits in a collective, so the test can check that mpirun ends the whole job.
var mode = args[0];
var outputDirectory = args[1];
var seed = int.Parse(args[2], System.Globalization.CultureInfo.InvariantCulture);

var environment = DistributedEnvironment.Detect();
torch.set_num_threads(environment.ThreadsPerRank(Environment.ProcessorCount));
using var collectives = Collectives.Create(environment, CPU, Console.Out);

switch (mode)
{
    case "collectives":
        var results = new Scenarios(collectives, seed).RunAll();
        var report = new Dictionary<string, object>
        {
            ["rank"] = collectives.Rank,
            ["world_size"] = collectives.WorldSize,
            ["description"] = collectives.Description,
            ["environment"] = environment,
            ["results"] = results,
        };
        File.WriteAllText(Path.Combine(outputDirectory, $"rank{collectives.Rank}.json"), JsonSerializer.Serialize(report));
        collectives.Barrier();
        return 0;
    case "abort" or "exit" or "kill":
        collectives.Barrier();
        if (collectives.Rank == 1)
        {
            if (mode == "abort")
                collectives.Abort(7);
            else if (mode == "exit")
                Environment.Exit(3);
            else
                Process.GetCurrentProcess().Kill();
        }
        // Rank 1 never joins: without mpirun ending the job, this would wait forever.
        using (var forever = ones(4))
            collectives.AllReduceSum(forever);
        collectives.Barrier();
        Console.Error.WriteLine($"rank {collectives.Rank}: the collective returned although rank 1 was gone");
        return 0;
    default:
        Console.Error.WriteLine($"unknown mode {mode}");
        return 2;
}
