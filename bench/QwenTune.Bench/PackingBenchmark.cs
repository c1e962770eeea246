using System.Diagnostics;
using QwenTune.Data;
using QwenTune.Distributed;
using QwenTune.Models;
using QwenTune.Text;
using QwenTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>
/// --packing against dynamic padding (length-grouped, the default) and --pad_to_max_length True (the seed's behaviour,
/// as Qwen's example): useful (target) tokens per second over one epoch of the first samples of examples/data
/// (model_max_length 512, batch 2 x accumulation 8 as finetune.sh), float32, each mode from the same fresh model.
/// The model is the small Qwen2 shape (hidden 512, 4 layers, 8/2 heads, SwiGLU 1408) with the vocabulary cut to
/// the token ids the data uses (renumbered densely): with the full 151,936-token head every target costs ~6x a decoder
/// token whatever the padding, which would hide what padding costs. Also times the two ways to keep packed samples
/// apart in attention (fwd+bwd of SDPA on the packed rows' real sample boundaries): one call with a boolean
/// block-diagonal mask against a causal call per sample, and the unisolated causal call as the floor.
/// Unless --no-peer, the PyTorch-eager peer (bench/peers/torch_eager_step.py, fp32) runs the pad-to-max shape (2 x 512,
/// the same model and vocabulary): its tokens/s times the share of pad-to-max tokens that are targets is its useful rate.
/// Run: dotnet run --project bench/QwenTune.Bench -c Release -- packing [--samples N] [--attention-only] [--no-peer]   (default 64)
/// </summary>
internal sealed class PackingBenchmark : IBenchmark
{
    private const int MaxLength = 512, BatchSize = 2, Accumulation = 8;

    public string Name => "packing";

    public string Description => "useful tokens/s: --packing vs dynamic padding vs --pad_to_max_length; block mask vs per-sample SDPA [--samples N] [--attention-only] [--no-peer]";

    public object Run(IReadOnlyList<string> args)
    {
        var sampleCount = args is ["--samples", var n, ..] ? int.Parse(n, System.Globalization.CultureInfo.InvariantCulture) : 64;
        var examples = DenseVocabulary(LoadExamples(sampleCount), out var vocab);
        if (args.Contains("--attention-only"))
            return new[] { MaxLength, 2048 }.Select(capacity => AttentionTimes(new PackedSftDataset(new EagerSftDataset(examples), capacity))).ToList();
        var gemm = GemmPeak.Gflops(ScalarType.Float32);
        var config = new QwenConfig
        {
            ModelType = "qwen2", VocabSize = vocab, HiddenSize = 512, IntermediateSize = 1408, NumHiddenLayers = 4,
            NumAttentionHeads = 8, NumKeyValueHeads = 2, TieWordEmbeddings = true, RopeTheta = 1_000_000,
        };
        var samples = new EagerSftDataset(examples);
        var packed = new PackedSftDataset(samples, MaxLength);
        // The modes take turns step by step, so that the load of this shared machine, which drifts over minutes, weighs
        // on each alike; CPU seconds (all threads of this process) are reported beside wall seconds for the same reason.
        var modes = new[]
        {
            new ModeRun(config, samples, new Collator(0, MaxLength), groupByLength: false),
            new ModeRun(config, samples, new Collator(0), groupByLength: true),
            new ModeRun(config, packed, new Collator(0), groupByLength: true),
        };
        while (modes.Count(m => m.TryStep()) > 0)
        {
        }
        var (padToMax, dynamic, packing) = (modes[0].Result(), modes[1].Result(), modes[2].Result());
        Array.ForEach(modes, m => m.Dispose());
        var peer = args.Contains("--no-peer") ? null : Peer.Run("torch_eager_step.py",
            ["--dtype", "fp32", .. Peer.ModelArguments(config), "--batch", $"{BatchSize}", "--seq", $"{MaxLength}", "--steps", "4"],
            json => json.GetProperty("tokens_per_s").GetDouble());
        var peerTargets = Peer.Field(peer, "tokens_per_s") * padToMax.Targets / padToMax.PaddedTokens;
        return new
        {
            gemm_gflops_float32 = Math.Round(gemm, 1),
            samples = examples.Count,
            sample_tokens_mean = Math.Round(examples.Average(e => e.InputIds.Length), 1),
            packed_rows = packed.Count,
            vocab_size = vocab,
            model_max_length = MaxLength,
            pad_to_max_length = padToMax,
            dynamic_padding = dynamic,
            packing,
            packing_over_pad_to_max = Math.Round(packing.TargetsPerSecond / padToMax.TargetsPerSecond, 2),
            packing_over_dynamic = Math.Round(packing.TargetsPerSecond / dynamic.TargetsPerSecond, 2),
            packing_over_pad_to_max_cpu = Math.Round(packing.TargetsPerCpuSecond / padToMax.TargetsPerCpuSecond, 2),
            packing_over_dynamic_cpu = Math.Round(packing.TargetsPerCpuSecond / dynamic.TargetsPerCpuSecond, 2),
            peer_pad_to_max = peer,
            peer_targets_per_second = peerTargets is { } t ? Math.Round(t, 1) : (double?)null,
            packing_over_peer = peerTargets is { } u ? Math.Round(packing.TargetsPerSecond / u, 2) : (double?)null,
            attention_isolation = new[] { MaxLength, 2048 }.Select(capacity => AttentionTimes(new PackedSftDataset(samples, capacity))).ToList(),
        };
    }

    private sealed record ModeResult(
        int Steps, long Targets, long Tokens, long PaddedTokens, double Seconds, double CpuSeconds, double TargetsPerSecond, double TargetsPerCpuSecond, double FinalLoss);

    /// <summary>One epoch of one mode, from the same fresh model (seed 42), a step at a time.</summary>
    private sealed class ModeRun : IDisposable
    {
        private readonly QwenForCausalLM _model;
        private readonly StepRunner _runner;
        private readonly MicroBatchSource _source;
        private readonly TrainingPlan _plan;
        private int _step;
        private long _targets, _tokens, _padded;
        private double _seconds, _cpuSeconds, _loss;

        public ModeRun(QwenConfig config, ISftDataset data, Collator collator, bool groupByLength)
        {
            _model = new QwenForCausalLM(config);
            _model.InitializeWeights(42);
            var updater = new AdamWUpdater(ParameterGroups.Trainable(_model), new AdamWOptions(0.9, 0.95, 1e-8, 0.01));
            _runner = new StepRunner(_model, updater, new SingleProcess(), null);
            var microBatches = (data.Count + BatchSize - 1) / BatchSize;
            var stepsPerEpoch = (microBatches + Accumulation - 1) / Accumulation;
            _plan = new TrainingPlan(data.Count, BatchSize, Accumulation, stepsPerEpoch, stepsPerEpoch);
            _source = new MicroBatchSource(data, _plan, collator, groupByLength, seed: 42);
        }

        public bool TryStep()
        {
            if (_step == _plan.TotalSteps)
                return false;
            var batches = _source.ForStep(_step);
            _padded += batches.Sum(b => b.InputIds.numel());
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            var clock = Stopwatch.StartNew();
            var metrics = _runner.Run(_step, batches, 1e-4, 1.0, 0);
            _seconds += clock.Elapsed.TotalSeconds;
            _cpuSeconds += (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalSeconds;
            (_targets, _tokens, _loss) = (_targets + metrics.Targets, _tokens + metrics.Tokens, metrics.Loss);
            batches.ForEach(b => b.Dispose());
            _step++;
            return true;
        }

        public ModeResult Result() => new(_plan.TotalSteps, _targets, _tokens, _padded, Math.Round(_seconds, 2), Math.Round(_cpuSeconds, 2),
            Math.Round(_targets / _seconds, 1), Math.Round(_targets / _cpuSeconds, 1), Math.Round(_loss, 4));

        public void Dispose() => _model.Dispose();
    }

    /// <summary>Milliseconds of fwd+bwd attention over the first micro-batch of packed rows, each way, 8 heads of 64.</summary>
    private static object AttentionTimes(PackedSftDataset packed)
    {
        using var scope = NewDisposeScope();
        var rows = Enumerable.Range(0, Math.Min(BatchSize, packed.Count)).Select(i => packed.Get(i)!).ToList();
        using var batch = new Collator(0).Collate(rows);
        var (b, t) = (batch.InputIds.shape[0], batch.InputIds.shape[1]);
        var q = randn(b, 8, t, 64);
        var k = randn(b, 8, t, 64);
        var v = randn(b, 8, t, 64);
        var sample = batch.PositionIds!.eq(0).to(ScalarType.Int64).cumsum(-1);
        var mask = (ones(t, t, ScalarType.Bool).tril().unsqueeze(0) & sample.unsqueeze(2).eq(sample.unsqueeze(1))).unsqueeze(1);
        var segments = rows.Select(r => r.SampleLengths!.Append((int)t - r.InputIds.Length).Where(l => l > 0).Select(l => (long)l).ToArray()).ToList();
        return new
        {
            row_tokens = t,
            samples_per_row = Math.Round(segments.Average(s => s.Length), 2),
            block_mask_ms = TimeBackward(q, k, v, (qq, kk, vv) => nn.functional.scaled_dot_product_attention(qq, kk, vv, attn_mask: mask)),
            per_sample_loop_ms = TimeBackward(q, k, v, (qq, kk, vv) => PackedAttention.PerSample(qq, kk, vv, segments)),
            causal_unisolated_ms = TimeBackward(q, k, v, (qq, kk, vv) => nn.functional.scaled_dot_product_attention(qq, kk, vv, is_casual: true)),
        };
    }

    private static double TimeBackward(Tensor q, Tensor k, Tensor v, Func<Tensor, Tensor, Tensor, Tensor> attend)
    {
        const int reps = 5;
        double best = double.MaxValue;
        for (var i = 0; i <= reps; i++)
        {
            using var scope = NewDisposeScope();
            var (qq, kk, vv) = (q.detach().requires_grad_(), k.detach().requires_grad_(), v.detach().requires_grad_());
            var clock = Stopwatch.StartNew();
            attend(qq, kk, vv).sum().backward();
            if (i > 0)
                best = Math.Min(best, clock.Elapsed.TotalMilliseconds);
        }
        return Math.Round(best, 2);
    }

    private static List<SftExample> LoadExamples(int count)
    {
        var folder = Path.Combine(RepositoryPaths.Root, "examples", "tiny-qwen2.5");
        var tokenizer = QwenTokenizer.FromDirectory(folder);
        var featurizer = new SftFeaturizer(tokenizer, ChatTemplate.For(tokenizer, Path.Combine(folder, "tokenizer_config.json")), MaxLength, trainOnPrompt: false);
        var records = ChatDataReader.Read(Path.Combine(RepositoryPaths.Root, "examples", "data", "train.jsonl"));
        return records.Samples.Take(count).Select(featurizer.Featurize).OfType<SftExample>().ToList();
    }

    /// <summary>The examples with their token ids renumbered 1.. in order of first use (0 pads); labels alike.</summary>
    private static List<SftExample> DenseVocabulary(List<SftExample> examples, out int vocab)
    {
        var dense = new Dictionary<int, int>();
        int Map(int id) => id == -100 ? -100 : dense.TryGetValue(id, out var d) ? d : dense[id] = dense.Count + 1;
        var mapped = examples.Select(e => e with { InputIds = e.InputIds.Select(Map).ToArray(), Labels = e.Labels.Select(Map).ToArray() }).ToList();
        vocab = dense.Count + 1;
        return mapped;
    }
}
