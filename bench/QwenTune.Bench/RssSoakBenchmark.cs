using QwenTune.Checkpoints;
using QwenTune.Configuration;
using QwenTune.Models;
using QwenTune.Training;
using TorchSharp;

namespace QwenTune.Bench;

/// <summary>
/// Resident memory over a long run of the embedded default model (examples/tiny-qwen2.5, Qwen's finetune.sh flags,
/// bf16, gradient checkpointing), one sample per optimizer step so that 500 steps stay affordable: RSS after every
/// step, and its drift after a warm-up of 20 steps (the goal: flat within +-5%). Unless --no-peer, the PyTorch-eager
/// peer (bench/peers/torch_eager_step.py) runs as many steps of the same model shape at 1 x 256 tokens and reports its
/// RSS range after step 3 and its peak; in float32, since torch 1.13's bf16 CPU products run at ~5 GFLOP/s here (13 s
/// a step of this model), which would make 500 steps take an hour.
/// </summary>
internal sealed class RssSoakBenchmark : IBenchmark
{
    public string Name => "rss-soak";

    public string Description => "RSS after each of N training steps of the embedded default model (default 500) and its drift [--steps N] [--keep-mb N] [--no-peer]";

    public object Run(IReadOnlyList<string> args)
    {
        string? Option(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        var steps = Option("--steps") is { } n ? int.Parse(n) : 500;
        if (Option("--keep-mb") is { } keep)
            FusedLinearCrossEntropy.KeptLogitsBytes.Value = long.Parse(keep) << 20;
        var work = Path.Combine(Path.GetTempPath(), "qwentune-rss-" + Guid.NewGuid().ToString("N"));
        try
        {
            var model = Path.Combine(work, "model");
            var recipe = Path.Combine(RepositoryPaths.Root, "examples", "tiny-qwen2.5");
            var fresh = new QwenForCausalLM(QwenConfig.FromFile(Path.Combine(recipe, "config.json")));
            fresh.InitializeWeights(42);
            fresh.to(TorchSharp.torch.ScalarType.BFloat16);
            PretrainedModel.Save(fresh, model, ShardSize.Default, recipe);
            fresh.Dispose();
            string[] flags =
            [
                "--model_name_or_path", model, "--data_path", Path.Combine(RepositoryPaths.Root, "examples", "data", "train.jsonl"),
                "--output_dir", Path.Combine(work, "out"), "--bf16", "True", "--num_train_epochs", "100", "--per_device_train_batch_size", "1",
                "--gradient_accumulation_steps", "1", "--learning_rate", "3e-4", "--weight_decay", "0.01", "--adam_beta2", "0.95",
                "--lr_scheduler_type", "cosine", "--logging_steps", "50", "--model_max_length", "512", "--lazy_preprocess", "True",
                "--gradient_checkpointing", "True", "--save_strategy", "no", "--max_steps", steps.ToString(),
            ];
            var recorder = new RssRecorder();
            var summary = TrainingSession.Run(TrainingRequest.Parse(flags), [recorder], TextWriter.Null);
            var config = QwenConfig.FromFile(Path.Combine(recipe, "config.json"));
            var peer = args.Contains("--no-peer") ? null : Peer.Run("torch_eager_step.py",
                ["--dtype", "fp32", .. Peer.ModelArguments(config), "--batch", "1", "--seq", "256", "--steps", $"{steps}"],
                json => json.GetProperty("tokens_per_s").GetDouble(), timeoutSeconds: 3600);
            var warm = recorder.Megabytes.Skip(Math.Min(20, recorder.Megabytes.Count - 1)).ToList();
            var reference = warm[0];
            var median = warm.Order().ElementAt(warm.Count / 2);
            return new
            {
                steps = summary.Steps, tokens_per_second = Math.Round(summary.TokensPerSecond, 1),
                rss_mb_after_step_20 = reference, rss_mb_last = warm[^1], rss_mb_min = warm.Min(), rss_mb_max = warm.Max(),
                drift_percent = Math.Round(100.0 * (warm.Max() - warm.Min()) / reference, 2),
                last_vs_step_20_percent = Math.Round(100.0 * (warm[^1] - reference) / reference, 2),
                // The "flat within +-5%" read as a band around the middle: every sample's distance from the
                // median. drift_percent (max - min over step 20's) is the stricter reading, a +-2.5% band.
                within_plus_minus_percent_of_median = Math.Round(100.0 * warm.Max(m => Math.Abs(m - median)) / median, 2),
                peak_rss_mb = summary.PeakRssBytes >> 20,
                rss_mb_every_50_steps = recorder.Megabytes.Where((_, i) => i % 50 == 49).ToList(),
                gemm_peak_gflops = Math.Round(GemmPeak.Gflops(TorchSharp.torch.ScalarType.Float32), 1),
                peer,
            };
        }
        finally
        {
            if (Directory.Exists(work))
                Directory.Delete(work, recursive: true);
        }
    }

    private sealed class RssRecorder : ITrainerCallback
    {
        public List<long> Megabytes { get; } = [];

        public void OnStepEnd(StepMetrics metrics) => Megabytes.Add(QwenTune.Memory.CurrentRssBytes() >> 20);
    }
}
