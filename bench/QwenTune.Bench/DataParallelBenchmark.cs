using System.Diagnostics;
using System.Text.Json;
using QwenTune.Checkpoints;
using QwenTune.Configuration;
using QwenTune.Data;
using QwenTune.Distributed;
using QwenTune.Models;
using QwenTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>
/// Data parallelism on a ~250M-parameter model (hidden 1024, 12 layers, SwiGLU 5632, vocab 8192; bf16 weights with
/// float32 masters and AdamW moments where this CPU multiplies bf16 at least as fast as float32, else float32 throughout;
/// gradient checkpointing), each configuration a fresh mpirun job:
/// - memory: per-rank resident training state after one step (weights, gradients, optimizer), by tensor bytes, and peak
///   RSS, for ZeRO 0/1/2/3 at 2 and 4 ranks. Stage 0 keeps everything on every rank, so its per-rank state does not
///   depend on the rank count; it is measured at 2 ranks only (at 4 it would need about 20 GB of this 24 GB machine).
/// - throughput: 2 ranks x 1 thread against 1 rank x 2 threads at the same global batch, and ZeRO-2 with overlap_comm on
///   and off, with the bf16 GEMM rate measured in the same process beside each.
/// Run: dotnet run --project bench/QwenTune.Bench -c Release -- data-parallel   (needs mpirun; about 10 minutes on 2 cores)
/// </summary>
internal sealed class DataParallelBenchmark : IBenchmark
{
    private const int Sequence = 256, GlobalBatch = 2, WarmupSteps = 1, TimedSteps = 3;

    public string Name => "data-parallel";

    public string Description => "ZeRO 0-3 per-rank state at 2/4 ranks, 2x1-thread vs 1x2-thread tokens/s, overlap_comm on/off (~250M model)";

    public object? Run(IReadOnlyList<string> args)
    {
        if (args is ["--child", var childMode, var childStage, var childOverlap, var childFolder])
            return Child(childMode, int.Parse(childStage, System.Globalization.CultureInfo.InvariantCulture), childOverlap == "on", childFolder);
        // CPUs without AVX512-BF16 run libtorch's bf16 GEMM on a slow path (hundreds of times slower than float32 here).
        var (bf16Rate, float32Rate) = (GemmPeak.Gflops(ScalarType.BFloat16), GemmPeak.Gflops(ScalarType.Float32));
        var dtype = bf16Rate >= float32Rate ? ScalarType.BFloat16 : ScalarType.Float32;
        var folder = Path.Combine(Path.GetTempPath(), "qwentune-bench-dp-" + Guid.NewGuid().ToString("N"));
        try
        {
            var config = new QwenConfig
            {
                ModelType = "qwen2", VocabSize = 8192, HiddenSize = 1024, IntermediateSize = 5632, NumHiddenLayers = 12,
                NumAttentionHeads = 8, NumKeyValueHeads = 2, TieWordEmbeddings = true, RopeTheta = 1_000_000,
            };
            using (var model = new QwenForCausalLM(config))
            {
                model.InitializeWeights(1);
                model.to(dtype);
                PretrainedModel.Save(model, folder, ShardSize.Default, null);
            }
            var memory = new List<JsonElement>();
            foreach (var (ranks, stage) in new[] { (2, 0), (2, 1), (2, 2), (2, 3), (4, 1), (4, 2), (4, 3) })
            {
                if (args is not ["throughput"])
                    memory.Add(Mpi(ranks, "memory", stage, "off", folder));
            }
            var oneRank = Mpi(1, "throughput", 0, "off", folder);
            var twoRanks = Mpi(2, "throughput", 0, "off", folder);
            var twoRanksZero1 = Mpi(2, "throughput", 1, "off", folder);
            var overlapOff = Mpi(2, "throughput", 2, "off", folder);
            var overlapOn = Mpi(2, "throughput", 2, "on", folder);
            double Rate(JsonElement e) => e.GetProperty("tokens_per_second").GetDouble();
            return new
            {
                model_parameters = memory.FirstOrDefault().ValueKind == JsonValueKind.Undefined ? 0 : memory[0].GetProperty("model_parameters").GetInt64(),
                dtype = PretrainedModel.DtypeName(dtype),
                gemm_gflops_two_threads = new { bfloat16 = Math.Round(bf16Rate, 1), float32 = Math.Round(float32Rate, 1) },
                sequence = Sequence,
                global_batch = GlobalBatch,
                memory,
                sharded_fraction_stage3 = memory.Count == 0 ? null : memory.Where(m => m.GetProperty("stage").GetInt32() == 3).Select(m => new
                {
                    ranks = m.GetProperty("ranks").GetInt32(),
                    fraction_of_stage0 = Math.Round(Sharded(m) / Sharded(memory[0]), 4),
                    limit = Math.Round(1.0 / m.GetProperty("ranks").GetInt32() + 0.10, 4),
                }),
                throughput = new
                {
                    one_rank_two_threads = oneRank,
                    two_ranks_one_thread = twoRanks,
                    two_by_one_over_one_by_two = Math.Round(Rate(twoRanks) / Rate(oneRank), 3),
                    two_ranks_one_thread_zero1 = twoRanksZero1,
                    two_by_one_zero1_over_one_by_two = Math.Round(Rate(twoRanksZero1) / Rate(oneRank), 3),
                    zero2_overlap_off = overlapOff,
                    zero2_overlap_on = overlapOn,
                    overlap_on_over_off = Math.Round(Rate(overlapOn) / Rate(overlapOff), 3),
                },
            };
        }
        finally
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }

    /// <summary>What ZeRO-3 shards: the decoder layers' weights, all gradients and all optimizer state.</summary>
    private static double Sharded(JsonElement m) =>
        m.GetProperty("layer_weight_bytes").GetDouble() + m.GetProperty("gradient_bytes").GetDouble() + m.GetProperty("optimizer_bytes").GetDouble();

    private static JsonElement Mpi(int ranks, string mode, int stage, string overlap, string folder)
    {
        var self = Environment.ProcessPath!;
        var info = new ProcessStartInfo("mpirun") { RedirectStandardOutput = true, UseShellExecute = false };
        if (Environment.UserName == "root")
            info.ArgumentList.Add("--allow-run-as-root");
        foreach (var arg in new[] { "--oversubscribe", "--bind-to", "none", "-np", ranks.ToString(System.Globalization.CultureInfo.InvariantCulture), "-x", "TERM=dumb", self })
            info.ArgumentList.Add(arg);
        if (Path.GetFileNameWithoutExtension(self) == "dotnet")
            info.ArgumentList.Add(typeof(DataParallelBenchmark).Assembly.Location);
        foreach (var arg in new[] { "data-parallel", "--child", mode, stage.ToString(System.Globalization.CultureInfo.InvariantCulture), overlap, folder })
            info.ArgumentList.Add(arg);
        using var job = Process.Start(info)!;
        var output = job.StandardOutput.ReadToEnd();
        job.WaitForExit();
        if (job.ExitCode != 0)
            throw new InvalidOperationException($"mpirun -np {ranks} data-parallel {mode} stage {stage} exited {job.ExitCode}: {output}");
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    private static object? Child(string mode, int stage, bool overlap, string folder)
    {
        var environment = DistributedEnvironment.Detect();
        set_num_threads(environment.ThreadsPerRank(Environment.ProcessorCount));
        using var collectives = Collectives.Create(environment, CPU, TextWriter.Null);
        var model = PretrainedModel.Load(folder, PretrainedModel.ParseDtype(QwenConfig.FromDirectory(folder).TorchDtype, ScalarType.Float32), CPU);
        ModelSetup.Prepare(model, lora: null, gradientCheckpointing: true, seed: 1);
        var parameterCount = model.parameters().Sum(p => p.numel());
        var training = new TrainingArguments { AdamBeta2 = 0.95, WeightDecay = 0.01 };
        var zero = new ZeroSettings(stage, ReduceBucketSize: 1024L * 1024, PersistenceThreshold: 10 * 1024, overlap);
        using var updater = OptimizerSetup.Create(model, training, collectives, zero);
        (updater as ZeroUpdater)?.Attach(model.Model, gradientCheckpointing: true);
        var runner = new StepRunner(model, updater, collectives, null);
        var batch = GlobalBatch / collectives.WorldSize;
        var generator = new Generator(7 + (ulong)collectives.Rank);
        var times = new List<double>();
        var (waitsMost, waitsLeast) = (new List<double>(), new List<double>());
        var steps = mode == "memory" ? 1 : WarmupSteps + TimedSteps;
        for (var step = 0; step < steps; step++)
        {
            var ids = randint(0, model.Config.VocabSize, [batch, Sequence], generator: generator);
            using var micro = new Batch(ids, ids.clone(), ones_like(ids), batch * (Sequence - 1), batch * Sequence);
            var waited = (updater as ZeroUpdater)?.CommunicationSeconds ?? 0;
            var metrics = runner.Run(step, [micro], 1e-4, 1.0, 0);
            waited = ((updater as ZeroUpdater)?.CommunicationSeconds ?? 0) - waited;
            if (step >= WarmupSteps)
            {
                times.Add(collectives.AllReduceMax(metrics.Seconds));
                waitsMost.Add(collectives.AllReduceMax(waited));
                waitsLeast.Add(-collectives.AllReduceMax(-waited));
            }
        }
        var peakRss = (long)collectives.AllReduceMax(QwenTune.Memory.PeakRssBytes());
        if (mode == "memory")
        {
            var (weights, layerWeights, gradients, optimizer) = ((ZeroUpdater)updater).ResidentBytes(model);
            long Max(long bytes) => (long)collectives.AllReduceMax(bytes);
            var row = new
            {
                ranks = collectives.WorldSize, stage, model_parameters = parameterCount,
                weight_bytes = Max(weights), layer_weight_bytes = Max(layerWeights), gradient_bytes = Max(gradients), optimizer_bytes = Max(optimizer),
                state_mb = Math.Round((Max(weights) + Max(gradients) + Max(optimizer)) / 1048576.0, 1),
                peak_rss_mb = peakRss >> 20,
            };
            return collectives.Rank == 0 ? row : null;
        }
        var median = times.Order().ElementAt(times.Count / 2);
        var gemm = GemmPeak.Gflops(model.Dtype);
        return collectives.Rank == 0
            ? new
            {
                ranks = collectives.WorldSize, threads_per_rank = get_num_threads(), stage, overlap_comm = overlap,
                median_step_seconds = Math.Round(median, 3),
                // Seconds per step in blocking collectives or waiting for non-blocking ones: the least of any rank (the
                // slowest rank's, close to the transfers' own cost) and the most (which adds waiting for that rank).
                median_communication_seconds = new
                {
                    least = Math.Round(waitsLeast.Order().ElementAt(waitsLeast.Count / 2), 3),
                    most = Math.Round(waitsMost.Order().ElementAt(waitsMost.Count / 2), 3),
                },
                tokens_per_second = Math.Round(GlobalBatch * Sequence / median, 1),
                gemm_gflops_per_rank = Math.Round(gemm, 1),
                peak_rss_mb = peakRss >> 20,
            }
            : null;
    }
}
