using QwenTune.Checkpoints;
using QwenTune.Configuration;
using QwenTune.Models;
using QwenTune.Training;
using TorchSharp;

namespace QwenTune.Bench;

/// <summary>
/// The embedded default run (`./finetune.sh` with no arguments: examples/tiny-qwen2.5 seeded 42, examples/data,
/// Qwen's defaults) measured in a child process each: as is (pad to the batch's longest, length-grouped) and
/// with --pad_to_max_length True (Qwen's example: every sample padded to 512). Default: the first 20 steps of
/// each; --full runs all five epochs. Unless --no-peer, the PyTorch-eager peer (bench/peers/torch_eager_step.py) runs the
/// same model shape at 2 x 256 tokens, every token a target and no checkpointing, in bf16 (as ours) and float32 (torch
/// 1.13's bf16 CPU products are a slow path here): its tokens/s beside ours.
/// </summary>
internal sealed class TrainDefaultBenchmark : IBenchmark
{
    public string Name => "train-default";

    public string Description => "the default finetune.sh run: tokens/s and peak RSS, padded to the batch vs to model_max_length [--max_steps N | --full] [--no-peer]";

    public object Run(IReadOnlyList<string> args)
    {
        if (args is ["--child", var childModel, var output, var pad, var steps])
            return Child(childModel, output, bool.Parse(pad), int.Parse(steps));
        var maxSteps = args.Contains("--full") ? -1 : args.SkipWhile(a => a != "--max_steps").Skip(1).FirstOrDefault() is { } n ? int.Parse(n) : 20;
        var work = Path.Combine(Path.GetTempPath(), "qwentune-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            var model = Path.Combine(work, "model");
            var config = QwenConfig.FromFile(Path.Combine(RepositoryPaths.Root, "examples", "tiny-qwen2.5", "config.json"));
            var fresh = new QwenForCausalLM(config);
            fresh.InitializeWeights(42);
            fresh.to(TorchSharp.torch.ScalarType.BFloat16);
            PretrainedModel.Save(fresh, model, ShardSize.Default, Path.Combine(RepositoryPaths.Root, "examples", "tiny-qwen2.5"));
            var padded = ChildProcess.RunSelf(Name, "--child", model, Path.Combine(work, "padded"), "False", maxSteps.ToString());
            var fixedLength = ChildProcess.RunSelf(Name, "--child", model, Path.Combine(work, "max"), "True", maxSteps.ToString());
            object? PeerIn(string dtype) => args.Contains("--no-peer") ? null : Peer.Run("torch_eager_step.py",
                ["--dtype", dtype, .. Peer.ModelArguments(config), "--batch", "2", "--seq", "256", "--steps", "8"],
                json => json.GetProperty("tokens_per_s").GetDouble());
            var (peer, peerFloat32) = (PeerIn("bf16"), PeerIn("fp32"));
            return new
            {
                max_steps = maxSteps,
                default_run = padded,
                pad_to_max_length = fixedLength,
                peer,
                peer_float32 = peerFloat32,
                gemm_peak_gflops = Math.Round(GemmPeak.Gflops(TorchSharp.torch.ScalarType.Float32), 1),
                speedup_of_default = padded.GetProperty("tokens_per_second").GetDouble() / fixedLength.GetProperty("tokens_per_second").GetDouble(),
            };
        }
        finally
        {
            if (Directory.Exists(work))
                Directory.Delete(work, recursive: true);
        }
    }

    private static object Child(string model, string output, bool padToMax, int maxSteps)
    {
        string[] args =
        [
            "--model_name_or_path", model, "--data_path", Path.Combine(RepositoryPaths.Root, "examples", "data", "train.jsonl"),
            "--output_dir", output, "--bf16", "True", "--num_train_epochs", "5", "--per_device_train_batch_size", "2",
            "--gradient_accumulation_steps", "8", "--learning_rate", "3e-4", "--weight_decay", "0.01", "--adam_beta2", "0.95",
            "--warmup_ratio", "0.01", "--lr_scheduler_type", "cosine", "--logging_steps", "1", "--model_max_length", "512",
            "--lazy_preprocess", "True", "--gradient_checkpointing", "True", "--save_strategy", "no",
            "--pad_to_max_length", padToMax.ToString(), "--max_steps", maxSteps.ToString(),
        ];
        var summary = TrainingSession.Run(TrainingRequest.Parse(args), [], TextWriter.Null);
        var losses = TrainerState.FromFile(Path.Combine(output, "trainer_state.json")).LogHistory
            .Where(e => e["loss"] is not null).Select(e => (double)e["loss"]!).ToList();
        return new
        {
            pad_to_max_length = padToMax,
            steps = summary.Steps,
            runtime_seconds = Math.Round(summary.RuntimeSeconds, 2),
            tokens = summary.Tokens,
            tokens_per_second = Math.Round(summary.TokensPerSecond, 1),
            peak_rss_mb = summary.PeakRssBytes >> 20,
            first_loss = losses.FirstOrDefault(),
            last_loss = losses.LastOrDefault(),
        };
    }
}
