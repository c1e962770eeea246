using System.Diagnostics;
using QwenTune.Checkpoints;
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
/// Full fine-tuning, LoRA (r 64, alpha 16, all seven projections: Qwen's defaults) and Q-LoRA on the same model and
/// the same synthetic batches, bf16 with gradient checkpointing, each in its own child process: median step time,
/// tokens/s, peak RSS, and the bytes the weights occupy. The model (hidden 1024, 12 layers, SwiGLU 5632, vocab
/// 8192, about 250M parameters) is shaped so that, as in 7B-class models, the decoder projections hold most weights.
/// </summary>
internal sealed class PeftCompareBenchmark : IBenchmark
{
    private const int Batch = 2, Sequence = 256, WarmupSteps = 1, TimedSteps = 4;

    public string Name => "peft-compare";

    public string Description => "full / LoRA / Q-LoRA on one model and data: step time, tokens/s, peak RSS, resident weights";

    public object Run(IReadOnlyList<string> args)
    {
        if (args is ["--child", var mode, var childFolder])
            return Child(mode, childFolder);
        var folder = Path.Combine(Path.GetTempPath(), "qwentune-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            var config = new QwenConfig
            {
                ModelType = "qwen2", VocabSize = 8192, HiddenSize = 1024, IntermediateSize = 5632, NumHiddenLayers = 12,
                NumAttentionHeads = 8, NumKeyValueHeads = 2, TieWordEmbeddings = true, RopeTheta = 1_000_000,
            };
            var model = new QwenForCausalLM(config);
            model.InitializeWeights(1);
            model.to(ScalarType.BFloat16);
            PretrainedModel.Save(model, folder, ShardSize.Default, null);
            model.Dispose();
            return new
            {
                batch = Batch, sequence = Sequence, dtype = "bfloat16", gradient_checkpointing = true,
                full = ChildProcess.RunSelf(Name, "--child", "full", folder),
                lora = ChildProcess.RunSelf(Name, "--child", "lora", folder),
                qlora = ChildProcess.RunSelf(Name, "--child", "qlora", folder),
            };
        }
        finally
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }

    private static object Child(string mode, string folder)
    {
        var options = new QwenModelOptions { QuantizeLinears = mode == "qlora" };
        var loadClock = Stopwatch.StartNew();
        var model = PretrainedModel.Load(folder, ScalarType.BFloat16, CPU, options);
        var loadSeconds = loadClock.Elapsed.TotalSeconds;
        var rssAfterLoad = QwenTune.Memory.CurrentRssBytes();
        var baseWeightBytes = WeightBytes(model);
        ModelSetup.Prepare(model, mode == "full" ? null : new LoraConfig { R = 64, Alpha = 16, Dropout = 0.05 }, gradientCheckpointing: true, seed: 1);
        var training = new TrainingArguments { AdamBeta2 = 0.95, WeightDecay = 0.01 };
        using var updater = OptimizerSetup.Create(model, training);
        var trainable = updater.Parameters;
        var runner = new StepRunner(model, updater, new SingleProcess(), null);
        var generator = new Generator(7);
        var times = new List<double>();
        for (var step = 0; step < WarmupSteps + TimedSteps; step++)
        {
            var ids = randint(0, model.Config.VocabSize, [Batch, Sequence], generator: generator);
            using var batch = new Batch(ids, ids.clone(), ones_like(ids), Batch * (Sequence - 1), Batch * Sequence);
            var metrics = runner.Run(step, [batch], 1e-4, 1.0, 0);
            if (step >= WarmupSteps)
                times.Add(metrics.Seconds);
        }
        var median = times.Order().ElementAt(times.Count / 2);
        return new
        {
            mode,
            load_seconds = Math.Round(loadSeconds, 2),
            median_step_seconds = Math.Round(median, 3),
            tokens_per_second = Math.Round(Batch * Sequence / median, 1),
            peak_rss_mb = QwenTune.Memory.PeakRssBytes() >> 20,
            rss_after_load_mb = rssAfterLoad >> 20,
            base_weight_mb = Math.Round(baseWeightBytes / 1048576.0, 1),
            bf16_weight_mb = Math.Round(model.named_parameters().Where(p => !p.name.Contains(".lora_")).Sum(p => p.parameter.numel() * 2) / 1048576.0
                + Quantized(model).Sum(q => q.NumElements * 2) / 1048576.0, 1),
            quantized_projection_mb = Math.Round(Quantized(model).Sum(q => q.StorageBytes) / 1048576.0, 1),
            quantized_projection_bf16_mb = Math.Round(Quantized(model).Sum(q => q.NumElements * 2) / 1048576.0, 1),
            trainable_parameters = trainable.Sum(p => p.Parameter.numel()),
            trainable_line = LoraInjector.TrainableParametersLine(model),
        };
    }

    /// <summary>Bytes of the base model's weights as stored: dense parameters plus NF4 storage.</summary>
    private static long WeightBytes(QwenForCausalLM model) =>
        model.parameters().Sum(p => p.numel() * p.element_size()) + Quantized(model).Sum(q => q.StorageBytes);

    private static IEnumerable<QwenTune.Quantization.Nf4Tensor> Quantized(QwenForCausalLM model) =>
        model.named_modules().Select(m => m.module).OfType<QwenLinear>().Select(l => l.QuantizedWeight).OfType<QwenTune.Quantization.Nf4Tensor>();
}
