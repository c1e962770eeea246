using System.Globalization;
using QwenTune.Checkpoints;
using QwenTune.Configuration;
using QwenTune.Data;
using QwenTune.Distributed;
using QwenTune.Models;
using QwenTune.Peft;
using QwenTune.Planning;
using QwenTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>
/// `qwentune estimate` against real training steps: for full, LoRA and Q-LoRA, each with and without gradient
/// checkpointing, a child process loads the same random float32 model (hidden 256, 4 layers, SwiGLU 768, vocab 8192, tied),
/// prepares it as `train` does (ModelSetup, OptimizerSetup, StepRunner) and runs steps on one full-length sequence. Its
/// peak RSS growth over the RSS before loading is set beside the estimate's peak, and its median step time beside the
/// FLOP estimate at the GEMM rate measured here.
/// </summary>
internal sealed class EstimateBenchmark : IBenchmark
{
    private const int WarmupSteps = 1;

    public string Name => "estimate";

    public string Description => "estimated vs measured peak memory and step time: full / LoRA / Q-LoRA, with and without checkpointing [--batch B --length T]";

    private static readonly (string Mode, bool Checkpointing)[] Configurations =
    [
        ("full", false), ("full", true), ("lora", false), ("lora", true), ("qlora", false), ("qlora", true),
    ];

    public object Run(IReadOnlyList<string> args)
    {
        if (args.Count > 0 && args[0] == "--child")
            return Child(args.Skip(1).ToList());
        var batch = Option(args, "--batch", 1);
        var length = Option(args, "--length", 512);
        var steps = Option(args, "--steps", 2);
        var only = args.ToList().IndexOf("--only") is var o and >= 0 ? args[o + 1] : null;
        var folder = Path.Combine(Path.GetTempPath(), "qwentune-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            var config = new QwenConfig
            {
                ModelType = "qwen2", VocabSize = 8192, HiddenSize = 256, IntermediateSize = 768, NumHiddenLayers = 4,
                NumAttentionHeads = 4, NumKeyValueHeads = 2, TieWordEmbeddings = true, RopeTheta = 1_000_000,
            };
            using (var model = new QwenForCausalLM(config))
            {
                model.InitializeWeights(1);
                PretrainedModel.Save(model, folder, ShardSize.Default, null);
            }
            var gemm = QwenTune.Planning.GemmPeak.FlopsPerSecond(ScalarType.Float32, CPU, (long)batch * length, config.HiddenSize, config.IntermediateSize);
            var rows = new List<object>();
            foreach (var (mode, checkpointing) in Configurations.Where(c => only is null || c.Mode == only))
            {
                var flags = Flags(folder, mode, checkpointing, batch, length);
                var shape = TrainingShape.From(TrainingRequest.Parse(flags), worldSize: 1);
                var estimate = MemoryEstimator.Estimate(shape);
                var estimatedSeconds = StepFlops.For(shape).Total / gemm;
                var measured = ChildProcess.RunSelf([Name, "--child", .. flags, steps.ToString(CultureInfo.InvariantCulture)]);
                var growth = measured.GetProperty("first_step_peak_growth_bytes").GetInt64();
                var seconds = measured.GetProperty("median_step_seconds").GetDouble();
                rows.Add(new
                {
                    mode, gradient_checkpointing = checkpointing,
                    estimated_peak_mb = Megabytes(estimate.Peak),
                    measured_peak_growth_mb = Megabytes(growth),
                    measured_later_steps_peak_growth_mb = Megabytes(measured.GetProperty("peak_growth_bytes").GetInt64()),
                    memory_ratio = Math.Round((double)estimate.Peak / growth, 3),
                    estimated_step_seconds = Math.Round(estimatedSeconds, 3),
                    measured_step_seconds = seconds,
                    time_ratio = Math.Round(estimatedSeconds / seconds, 3),
                    estimate = new
                    {
                        weights_mb = Megabytes(estimate.Weights), gradients_mb = Megabytes(estimate.Gradients),
                        optimizer_mb = Megabytes(estimate.OptimizerState), activations_mb = Megabytes(estimate.Activations),
                        loss_head_mb = Megabytes(estimate.LossHead), step_working_mb = Megabytes(estimate.StepWorking),
                    },
                    measured,
                });
            }
            return new { batch, length, dtype = "float32", threads = get_num_threads(), gemm_gflops = Math.Round(gemm / 1e9, 1), rows };
        }
        finally
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }

    private static string[] Flags(string folder, string mode, bool checkpointing, int batch, int length) =>
    [
        "--model_name_or_path", folder, "--per_device_train_batch_size", batch.ToString(CultureInfo.InvariantCulture),
        "--model_max_length", length.ToString(CultureInfo.InvariantCulture), "--gradient_checkpointing", checkpointing.ToString(),
        "--use_lora", (mode != "full").ToString(), "--q_lora", (mode == "qlora").ToString(), "--weight_decay", "0.01",
    ];

    /// <summary>One configuration, as `train` prepares it, on synthetic sequences whose every token is a target.</summary>
    private static object Child(IReadOnlyList<string> flags)
    {
        var timedSteps = int.Parse(flags[^1], CultureInfo.InvariantCulture);
        var request = TrainingRequest.Parse(flags.Take(flags.Count - 1).ToList());
        var (lora, training) = (request.Lora, request.Training);
        WarmUp();
        var baseline = QwenTune.Memory.CurrentRssBytes();
        var model = PretrainedModel.Load(request.Model.ModelNameOrPath!, ScalarType.Float32, CPU, new QwenModelOptions { QuantizeLinears = lora.QLora });
        var loraConfig = lora.UseLora ? new LoraConfig { R = lora.LoraR, Alpha = lora.LoraAlpha, Dropout = lora.LoraDropout, TargetModules = lora.LoraTargetModules } : null;
        ModelSetup.Prepare(model, loraConfig, training.GradientCheckpointing, training.Seed);
        using var updater = OptimizerSetup.Create(model, training);
        var afterSetup = QwenTune.Memory.CurrentRssBytes();
        var runner = new StepRunner(model, updater, new SingleProcess(), null);
        var generator = new Generator(7);
        var (batch, length) = (training.PerDeviceTrainBatchSize, request.Data.ModelMaxLength);
        var forwardGrowth = ForwardGrowth(model, randint(0, model.Config.VocabSize, [batch, length], generator: generator));
        var times = new List<double>();
        var stepPeaks = new List<double>();
        long peak = 0, firstStepPeak = 0;
        for (var step = 0; step < WarmupSteps + timedSteps; step++)
        {
            ResetPeakRss();   // loading's transient copies are not part of a step
            var ids = randint(0, model.Config.VocabSize, [batch, length], generator: generator);
            using var micro = new Batch(ids, ids.clone(), ones_like(ids), batch * (length - 1), batch * length);
            var metrics = runner.Run(step, [micro], 1e-4, 1.0, 0);
            if (step >= WarmupSteps)
                times.Add(metrics.Seconds);
            var stepPeak = QwenTune.Memory.PeakRssBytes();
            stepPeaks.Add(Megabytes(stepPeak - baseline));
            peak = Math.Max(peak, stepPeak);
            if (step == 0)
                firstStepPeak = stepPeak;
        }
        return new
        {
            first_step_peak_growth_bytes = firstStepPeak - baseline,
            baseline_rss_mb = Megabytes(baseline),
            after_setup_rss_mb = Megabytes(afterSetup),
            forward_growth_mb = Megabytes(forwardGrowth),
            step_peak_growth_mb = stepPeaks,
            peak_rss_mb = Megabytes(peak),
            peak_growth_bytes = peak - baseline,
            median_step_seconds = Math.Round(times.Order().ElementAt(times.Count / 2), 3),
        };
    }

    /// <summary>
    /// One training step of a tiny model (hidden 32, 16 tokens) before the baseline is taken, so that what any run costs
    /// once (libtorch's intra-op thread pool, the autograd engine's threads and their allocator arenas) is part of the
    /// baseline and not counted as the model's memory; the step itself allocates well under a megabyte.
    /// </summary>
    private static void WarmUp()
    {
        var config = new QwenConfig
        {
            ModelType = "qwen2", VocabSize = 64, HiddenSize = 32, IntermediateSize = 64, NumHiddenLayers = 1, NumAttentionHeads = 4, NumKeyValueHeads = 2,
        };
        using var model = new QwenForCausalLM(config);
        model.InitializeWeights(1);
        using var scope = NewDisposeScope();
        var ids = randint(0, config.VocabSize, [1, 16]);
        CausalLmLoss.NllSum(model.Hidden(ids), ids, model.LmHeadWeight).NllSum.backward();
    }

    /// <summary>RSS growth from forward and loss alone: what the graph keeps for backward (freed unused).</summary>
    private static long ForwardGrowth(QwenForCausalLM model, Tensor ids)
    {
        using var scope = NewDisposeScope();
        var before = QwenTune.Memory.CurrentRssBytes();
        var hidden = model.Hidden(ids);
        var (nll, _) = CausalLmLoss.NllSum(hidden, ids, model.LmHeadWeight);
        return QwenTune.Memory.CurrentRssBytes() - before;
    }

    /// <summary>Linux: writing 5 to /proc/self/clear_refs sets the peak RSS (VmHWM) back to the current RSS.</summary>
    private static void ResetPeakRss()
    {
        try
        {
            File.WriteAllText("/proc/self/clear_refs", "5");
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
        }
    }

    private static double Megabytes(long bytes) => Math.Round(bytes / 1048576.0, 1);

    private static int Option(IReadOnlyList<string> args, string name, int fallback)
    {
        var at = args.ToList().IndexOf(name);
        return at >= 0 && at + 1 < args.Count ? int.Parse(args[at + 1], CultureInfo.InvariantCulture) : fallback;
    }
}
