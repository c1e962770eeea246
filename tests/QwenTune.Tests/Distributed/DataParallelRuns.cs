using QwenTune.Tests.Training;

namespace QwenTune.Tests.Distributed;

/// <summary>
/// Training runs shared by the data-parallel tests, each made once on first use: a one-process reference (batch 4) and
/// two-rank runs (batch 2) of the same global batch, on a 13-sample set so the last micro-batch of each epoch leaves
/// rank 1 without data. Every run evaluates at steps 2 and 4 and saves checkpoints at steps 2 and 4.
/// </summary>
public sealed class DataParallelRuns : IDisposable
{
    public static readonly TimeSpan Deadline = TimeSpan.FromMinutes(4);
    private readonly Dictionary<string, string> _runs = [];
    private readonly Lock _lock = new();

    public DataParallelRuns()
    {
        Fixture = new TrainingFixture(samples: 13);
        foreach (var stage in new[] { 1, 2, 3 })
        {
            // Small buckets and threshold, so that even this tiny model is reduced in several pieces and ZeRO-3 shards its layers.
            File.WriteAllText(Config(stage),
                $$$"""{"zero_optimization": {"stage": {{{stage}}}, "reduce_bucket_size": 3000, "stage3_param_persistence_threshold": 100}}""");
            File.WriteAllText(Config(stage, overlapComm: true),
                $$$"""{"zero_optimization": {"stage": {{{stage}}}, "overlap_comm": true, "reduce_bucket_size": 3000, "stage3_param_persistence_threshold": 100}}""");
        }
    }

    internal TrainingFixture Fixture { get; }

    public string Config(int stage, bool overlapComm = false) => Fixture.Output($"ds_zero{stage}{(overlapComm ? "_overlap" : "")}.json");

    /// <summary>Arguments of every run: float32, constant learning rate, 4 steps of accumulation 2, eval and save at 2 and 4.</summary>
    public string[] Arguments(string output, int batch, params string[] extra) =>
    [
        .. TrainingRuns.Common(Fixture, output, "--max_steps", "4", "--per_device_train_batch_size", batch.ToString(System.Globalization.CultureInfo.InvariantCulture),
            "--gradient_accumulation_steps", "2", "--save_strategy", "steps", "--save_steps", "2", "--eval_strategy", "steps", "--eval_steps", "2",
            "--eval_data_path", Fixture.DataPath, "--per_device_eval_batch_size", "3"),
        .. extra,
    ];

    /// <summary>The output folder of a one-process run (batch 4), trained in this process on first use.</summary>
    public string OneRank(string name, params string[] extra) => Once(name, output => TrainingRuns.Train(Arguments(output, 4, extra)));

    /// <summary>The output folder of a run of <paramref name="ranks"/> ranks under mpirun (batch 4 / ranks), on first use.</summary>
    public string Ranks(int ranks, string name, params string[] extra) => Once(name, output =>
    {
        var result = MpiRun.Cli(ranks, Deadline, ["train", .. Arguments(output, 4 / ranks, extra)]);
        Assert.True(result.ExitCode == 0, $"mpirun -np {ranks} train ({name}) exited {result.ExitCode}:\n{result.Stdout}\n{result.Stderr}");
    });

    private string Once(string name, Action<string> train)
    {
        lock (_lock)
        {
            if (!_runs.TryGetValue(name, out var output))
            {
                output = Fixture.Output(name);
                train(output);
                _runs[name] = output;
            }
            return output;
        }
    }

    public void Dispose() => Fixture.Dispose();
}
