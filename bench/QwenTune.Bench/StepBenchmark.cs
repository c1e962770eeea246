using System.Globalization;
using QwenTune.Configuration;
using QwenTune.Data;
using QwenTune.Distributed;
using QwenTune.Models;
using QwenTune.Peft;
using QwenTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>
/// Whole training steps (forward, loss, backward, AdamW) of random-init models shaped like a small Qwen2 (hidden 512,
/// 4 layers: 89M) and Qwen2.5-0.5B (hidden 896, 24 layers: 494M), every token a target, in fp32/bf16, full or LoRA
/// r64 (all projections), with and without gradient checkpointing. Each configuration runs in its own child process
/// (its own peak RSS); the share of the GEMM peak counts the useful work only: 6 flops per trained weight and token
/// (every weight in full fine-tuning, the adapters' in LoRA: forward, input gradient, weight gradient), 4 per frozen
/// weight (no weight gradient), plus attention's products, no recompute.
/// Unless --no-peer, the PyTorch-eager peer (bench/peers/torch_eager_step.py) runs each shape, dtype and mode without
/// checkpointing (it has none) in the same benchmark, and its tokens/s stands beside ours.
/// </summary>
internal sealed class StepBenchmark : IBenchmark
{
    public string Name => "step";

    public string Description => "training step tokens/s and share of GEMM peak: 89M and 0.5B shapes, fp32/bf16, full/LoRA, +-checkpointing [--model 89m|0.5b|all] [--dtype float32|bfloat16|all] [--steps N] [--no-peer]";

    public object Run(IReadOnlyList<string> args)
    {
        if (args is ["--child", var childShape, var childDtype, var childMode, var childCheckpointing, var childSteps])
            return Child(childShape, childDtype, childMode == "lora", bool.Parse(childCheckpointing), int.Parse(childSteps, CultureInfo.InvariantCulture));
        string Option(string name, string fallback) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault() ?? fallback;
        var shapes = Option("--model", "89m") is "all" ? new[] { "89m", "0.5b" } : [Option("--model", "89m")];
        var dtypes = Option("--dtype", "all") is "all" ? new[] { "float32", "bfloat16" } : [Option("--dtype", "all")];
        var steps = Option("--steps", "3");
        var rows = new List<System.Text.Json.JsonElement>();
        foreach (var shape in shapes)
        foreach (var dtype in dtypes)
        foreach (var mode in new[] { "full", "lora" })
        foreach (var checkpointing in new[] { "False", "True" })
        {
            var row = ChildProcess.RunSelf(Name, "--child", shape, dtype, mode, checkpointing, steps);
            Console.Error.WriteLine(row.ToString());
            rows.Add(row);
        }
        var peers = new List<object>();
        if (!args.Contains("--no-peer"))
        {
            foreach (var shape in shapes)
            foreach (var dtype in dtypes)
            foreach (var mode in new[] { "full", "lora" })
            {
                var ours = rows.First(r => r.GetProperty("model").GetString() == shape && r.GetProperty("dtype").GetString() == dtype
                    && r.GetProperty("mode").GetString()!.StartsWith(mode, StringComparison.Ordinal) && !r.GetProperty("gradient_checkpointing").GetBoolean());
                var peer = Peer.Run("torch_eager_step.py", PeerArguments(shape, dtype, mode == "lora"), json => json.GetProperty("tokens_per_s").GetDouble());
                var peerRate = Peer.Field(peer, "tokens_per_s");
                var ourRate = ours.GetProperty("tokens_per_second").GetDouble();
                peers.Add(new { model = shape, dtype, mode = ours.GetProperty("mode").GetString(), qwentune_tokens_per_second = ourRate, peer,
                    qwentune_over_peer = peerRate is { } p ? Math.Round(ourRate / p, 2) : (double?)null });
                Console.Error.WriteLine(System.Text.Json.JsonSerializer.Serialize(peers[^1]));
            }
        }
        return new { rows, peers };
    }

    private static QwenConfig Shape(string name) => name switch
    {
        "89m" => new QwenConfig
        {
            HiddenSize = 512, NumHiddenLayers = 4, NumAttentionHeads = 8, NumKeyValueHeads = 2, IntermediateSize = 1408,
            VocabSize = 151_936, TieWordEmbeddings = true, RopeTheta = 1_000_000,
        },
        "0.5b" => new QwenConfig
        {
            HiddenSize = 896, NumHiddenLayers = 24, NumAttentionHeads = 14, NumKeyValueHeads = 2, IntermediateSize = 4864,
            VocabSize = 151_936, TieWordEmbeddings = true, RopeTheta = 1_000_000,
        },
        _ => throw new ArgumentException($"unknown model shape '{name}' (89m or 0.5b)"),
    };

    /// <summary>The peer's flags for the same model, batch, dtype and LoRA rank as <see cref="Child"/>.</summary>
    private static string[] PeerArguments(string shape, string dtype, bool lora)
    {
        var (batch, sequence) = shape == "89m" ? (4, 256) : (2, 256);
        return
        [
            "--dtype", dtype == "bfloat16" ? "bf16" : "fp32", .. Peer.ModelArguments(Shape(shape)),
            "--batch", $"{batch}", "--seq", $"{sequence}", "--steps", "4", "--lora", lora ? "64" : "0",
        ];
    }

    private static object Child(string shape, string dtypeName, bool lora, bool checkpointing, int steps)
    {
        var config = Shape(shape);
        var (batch, sequence) = shape == "89m" ? (4, 256) : (2, 256);
        var dtype = dtypeName == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32;
        using var collectives = Collectives.Create(DistributedEnvironment.SingleProcess, CPU, TextWriter.Null);
        var model = new QwenForCausalLM(config, dtype);
        model.InitializeWeights(1);
        ModelSetup.Prepare(model, lora ? new LoraConfig { R = 64, Alpha = 16 } : null, checkpointing, seed: 1);
        var trained = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
        var frozen = model.parameters().Where(p => !p.requires_grad).Sum(p => p.numel());
        using var updater = OptimizerSetup.Create(model, new TrainingArguments { AdamBeta2 = 0.95, WeightDecay = 0.01 }, collectives, null);
        var runner = new StepRunner(model, updater, collectives, null);
        var generator = new Generator(7);
        var times = new List<double>();
        // Memory as the trainer keeps it: freed pages kept within a step, handed back after it (outside the timing).
        QwenTune.Memory.KeepFreedPagesWithinStep();
        for (var step = 0; step < steps + 1; step++)
        {
            QwenTune.Memory.BeforeStep();
            var ids = randint(0, config.VocabSize, [batch, sequence], generator: generator);
            using (var micro = new Batch(ids, ids.clone(), ones_like(ids), batch * (sequence - 1), batch * sequence))
            {
                var metrics = runner.Run(step, [micro], 1e-4, 1.0, 0);
                if (step > 0)
                    times.Add(metrics.Seconds);
            }
            QwenTune.Memory.ReturnFreedPages();
        }
        var seconds = times.Order().ElementAt(times.Count / 2);
        var tokens = (double)batch * sequence;
        // Attention's two products: 2 x 2 x T^2/2 x hidden per layer forward (causal half), three times that with backward.
        var attention = 3.0 * 2 * sequence * config.HiddenSize * config.NumHiddenLayers * tokens;
        var useful = (6.0 * trained + 4.0 * frozen) * tokens + attention;
        var peak = GemmPeak.Gflops(dtype);
        return new
        {
            model = shape, dtype = dtypeName, mode = lora ? "lora r64" : "full", gradient_checkpointing = checkpointing,
            batch, sequence, median_step_seconds = Math.Round(seconds, 3), tokens_per_second = Math.Round(tokens / seconds, 1),
            useful_gflops = Math.Round(useful / seconds / 1e9, 1), gemm_peak_gflops = Math.Round(peak, 1),
            share_of_peak = Math.Round(useful / seconds / 1e9 / peak, 3), peak_rss_mb = QwenTune.Memory.PeakRssBytes() >> 20,
        };
    }
}
