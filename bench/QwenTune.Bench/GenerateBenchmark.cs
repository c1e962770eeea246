using System.Diagnostics;
using System.Globalization;
using QwenTune.Generation;
using QwenTune.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>
/// KV-cached generation speed: prefill and decode tokens/s at batch 1 and 8, on random-init models of the 89M shape
/// (issue 10's: hidden 512, 4 layers, 8/2 heads, SwiGLU 1408, vocab 151,936 tied) and of Qwen2.5-0.5B's shape. A decode
/// step reads every weight once (the tied embedding through the head) plus the cache, so it is memory-bandwidth bound:
/// the result gives the bytes a step reads times steps/s as a share of a copy bandwidth measured in this process.
/// Args: [89m|0.5b|all] [float32|bfloat16] [prompt tokens, default 64] [new tokens, default 16]. bf16 runs at batch 1
/// only: bf16 matrix products are ~150x slower than float32 on CPUs without AVX512-BF16.
/// </summary>
internal sealed class GenerateBenchmark : IBenchmark
{
    private const int Repeats = 2;

    public string Name => "generate";

    public string Description => "prefill/decode tokens/s, batch 1 and 8, 89M and Qwen2.5-0.5B shapes, share of measured memory bandwidth";

    public object Run(IReadOnlyList<string> args)
    {
        var shape = args.Count > 0 ? args[0] : "all";
        var dtype = args.Count > 1 && args[1] == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32;
        var promptTokens = args.Count > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 64;
        var newTokens = args.Count > 3 ? int.Parse(args[3], CultureInfo.InvariantCulture) : 16;
        var bandwidth = MemoryBandwidth.CopyGbPerSecond();
        var configs = new Dictionary<string, QwenConfig> { ["89m"] = Shape89M, ["0.5b"] = ShapeQwen25Half };
        var runs = new List<object>();
        foreach (var (name, config) in configs.Where(c => shape == "all" || c.Key == shape))
        {
            using var model = new QwenForCausalLM(config);
            model.InitializeWeights(0);
            model.to(dtype);
            var parameterBytes = model.parameters().Sum(p => p.numel() * p.element_size());
            foreach (var batch in dtype == ScalarType.BFloat16 ? new[] { 1 } : new[] { 1, 8 })
                runs.Add(Measure(name, model, batch, promptTokens, newTokens, parameterBytes, bandwidth));
        }
        return new
        {
            benchmark = Name,
            threads = get_num_threads(),
            dtype = dtype.ToString(),
            prompt_tokens = promptTokens,
            new_tokens = newTokens,
            copy_bandwidth_gb_per_s = Math.Round(bandwidth, 2),
            runs,
        };
    }

    private static object Measure(string name, QwenForCausalLM model, int batch, int promptTokens, int newTokens, long parameterBytes, double bandwidth)
    {
        var config = model.Config;
        var random = new Random(batch);
        var prompts = Enumerable.Range(0, batch)
            .Select(_ => (IReadOnlyList<int>)[.. Enumerable.Range(0, promptTokens).Select(_ => random.Next(config.VocabSize))])
            .ToList();
        var generator = new TextGenerator(model, eosTokenIds: [], padTokenId: 0);
        var selector = new TokenSelector(new GenerationConfig { MaxNewTokens = newTokens }, seed: 0, model.Device);
        generator.Generate([prompts[0].Take(8).ToList()], new TokenSelector(new GenerationConfig { MaxNewTokens = 2 }, 0, model.Device));
        var best = Enumerable.Range(0, Repeats).Select(_ => generator.Generate(prompts, selector))
            .OrderBy(r => r.DecodeSeconds).First();
        var prefillTokensPerS = best.PromptTokens / best.PrefillSeconds;
        var stepsPerS = best.DecodeSteps / best.DecodeSeconds;
        // Keys and values of every layer at the mean cache length of the decode steps, read once per step.
        var meanCacheLength = promptTokens + newTokens / 2.0;
        var cacheBytes = 2.0 * config.NumHiddenLayers * batch * config.KeyValueHeads * config.HeadDim * meanCacheLength * ElementSize(model.Dtype);
        var bytesPerStep = parameterBytes + cacheBytes;
        return new
        {
            model = name,
            parameters = model.parameters().Sum(p => p.numel()),
            batch,
            prefill_s = Math.Round(best.PrefillSeconds, 3),
            prefill_tokens_per_s = Math.Round(prefillTokensPerS, 1),
            decode_steps = best.DecodeSteps,
            decode_ms_per_step = Math.Round(1e3 / stepsPerS, 2),
            decode_tokens_per_s = Math.Round(stepsPerS * batch, 1),
            bytes_read_per_step_mb = Math.Round(bytesPerStep / 1e6, 1),
            decode_gb_per_s = Math.Round(bytesPerStep * stepsPerS / 1e9, 2),
            share_of_copy_bandwidth = Math.Round(bytesPerStep * stepsPerS / 1e9 / bandwidth, 3),
        };
    }

    private static int ElementSize(ScalarType dtype) => dtype == ScalarType.Float32 ? 4 : 2;

    private static readonly QwenConfig Shape89M = new()
    {
        ModelType = "qwen2", VocabSize = 151936, HiddenSize = 512, IntermediateSize = 1408, NumHiddenLayers = 4,
        NumAttentionHeads = 8, NumKeyValueHeads = 2, TieWordEmbeddings = true, RopeTheta = 1000000,
    };

    private static readonly QwenConfig ShapeQwen25Half = new()
    {
        ModelType = "qwen2", VocabSize = 151936, HiddenSize = 896, IntermediateSize = 4864, NumHiddenLayers = 24,
        NumAttentionHeads = 14, NumKeyValueHeads = 2, TieWordEmbeddings = true, RopeTheta = 1000000,
    };
}
