using TorchSharp;
using TorchSharp.Utils;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>The decoder stack: embed_tokens, layers.N, norm (Hugging Face's Qwen2Model / Qwen3Model).</summary>
public sealed class QwenModel : nn.Module<Tensor, Tensor?, Tensor>
{
    [ComponentName(Name = "embed_tokens")] private readonly Embedding _embedTokens;
    [ComponentName(Name = "layers")] private readonly ModuleList<QwenDecoderLayer> _layers;
    [ComponentName(Name = "norm")] private readonly RmsNorm _norm;
    [ComponentName(Name = "rotary_emb")] private readonly RotaryEmbedding _rotaryEmb;

    public QwenModel(QwenConfig config, ScalarType dtype, Device device, QwenModelOptions options) : base(nameof(QwenModel))
    {
        _embedTokens = nn.Embedding(config.VocabSize, config.HiddenSize, sparse: config.TieWordEmbeddings, device: device, dtype: dtype);
        _layers = new ModuleList<QwenDecoderLayer>();
        for (var i = 0; i < config.NumHiddenLayers; i++)
            _layers.Add(new QwenDecoderLayer(config, dtype, device, options));
        _norm = new RmsNorm(config.HiddenSize, config.RmsNormEps, options.NormDtype(dtype), device);
        _rotaryEmb = new RotaryEmbedding(config, device);
        RegisterComponents();
    }

    public Embedding EmbedTokens => _embedTokens;

    public IReadOnlyList<QwenDecoderLayer> Layers => [.. _layers];

    /// <summary>
    /// Runs one decoder layer. The default calls it directly; gradient checkpointing replaces this with a
    /// function that recomputes the layer in backward.
    /// </summary>
    public Func<QwenDecoderLayer, Tensor, AttentionInputs, Tensor> LayerRunner { get; set; } =
        (layer, hidden, inputs) => layer.call(hidden, inputs);

    /// <summary>
    /// When set, the embedding output requires grad even if the embeddings are frozen, so that checkpointed
    /// layers have a differentiable input (Hugging Face's enable_input_require_grads).
    /// </summary>
    public bool InputRequiresGrad { get; set; }

    /// <summary>
    /// The generator behind the model's random draws in training (LoRA dropout), or null when nothing is random.
    /// Checkpointed layers replay its state when they recompute, and checkpoints save it.
    /// </summary>
    public Generator? RandomGenerator { get; set; }

    /// <param name="inputIds">(B, T) token ids.</param>
    /// <param name="attentionMask">(B, T), 1 for real tokens, 0 for padding; null when there is none.</param>
    /// <returns>(B, T, C) final hidden states after the last norm.</returns>
    public override Tensor forward(Tensor inputIds, Tensor? attentionMask) => Forward(inputIds, attentionMask, null);

    /// <summary>
    /// The forward with explicit (B, T) position ids, for packed rows: a position 0 starts a new sample, and no
    /// token attends to a token of another sample (as Hugging Face's flash-attention path reads packed sequences
    /// from position_ids).
    /// </summary>
    public Tensor Forward(Tensor inputIds, Tensor? attentionMask, Tensor? positionIds)
    {
        using var scope = NewDisposeScope();
        var hidden = _embedTokens.call(inputIds);                             // (B, T, C)
        if (InputRequiresGrad && !hidden.requires_grad)
            hidden.requires_grad_(true);
        AttentionInputs inputs;
        if (positionIds is null)
        {
            var (positions, mask) = PositionsAndMask(inputIds, attentionMask);
            var (cos, sin) = _rotaryEmb.Compute(positions, hidden.dtype);
            inputs = new AttentionInputs(cos, sin, mask);
        }
        else
        {
            var (cos, sin) = _rotaryEmb.Compute(positionIds, hidden.dtype);
            inputs = positionIds.shape[1] >= PerSampleAttentionFrom
                ? new AttentionInputs(cos, sin, null) { SampleLengths = SampleLengths(positionIds) }
                : new AttentionInputs(cos, sin, SampleMask(positionIds, attentionMask));
        }
        foreach (var layer in _layers)
            hidden = LayerRunner(layer, hidden, inputs);
        return _norm.call(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// A forward pass of incremental decoding: <paramref name="inputIds"/> (B, T) at <paramref name="positions"/> (B, T)
    /// attend over the keys and values of earlier passes held in <paramref name="cache"/>, which grows by T.
    /// <paramref name="mask"/> (B, 1, T, past + T), true = may attend, is always explicit: SDPA's is_causal aligns its
    /// triangle top-left, which is wrong once the queries are the last T of past + T keys.
    /// </summary>
    /// <returns>(B, T, C) final hidden states after the last norm.</returns>
    public Tensor ForwardCached(Tensor inputIds, Tensor positions, Tensor mask, KvCache cache)
    {
        using var scope = NewDisposeScope();
        var hidden = _embedTokens.call(inputIds);                             // (B, T, C)
        var (cos, sin) = _rotaryEmb.Compute(positions, hidden.dtype);
        var inputs = new AttentionInputs(cos, sin, mask);
        for (var i = 0; i < _layers.Count; i++)
            hidden = _layers[i].call(hidden, inputs with { Cache = cache.Layers[i] });
        return _norm.call(hidden).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Positions count real tokens only, so a left-padded sample sees the same positions as unpadded. A batch
    /// whose padding is all on the right needs no mask: under the causal mask real tokens never see later
    /// padding, and SDPA's causal path is the fast one. Otherwise (left or inner padding) an explicit boolean
    /// mask joins causality and key validity; each query may always see itself so no row is all-false (NaN).
    /// </summary>
    private static (Tensor Positions, Tensor? Mask) PositionsAndMask(Tensor inputIds, Tensor? attentionMask)
    {
        var (batch, time) = (inputIds.shape[0], inputIds.shape[1]);
        var device = inputIds.device;
        if (attentionMask is null)
            return (arange(time, ScalarType.Int64, device).unsqueeze(0).expand(batch, time), null);
        var valid = attentionMask.to(ScalarType.Bool);
        var positions = (valid.to(ScalarType.Int64).cumsum(-1) - 1).clamp_min(0);   // (B, T)
        // Right-padded rows are non-increasing 1...1 0...0: no 0 is ever followed by a 1.
        var rightPaddedOnly = !(valid[.., 1..] & ~valid[.., ..^1]).any().item<bool>();
        if (rightPaddedOnly)
            return (positions, null);
        var causal = ones(time, time, ScalarType.Bool, device).tril();                 // (T, T)
        var mask = causal.unsqueeze(0) & valid.unsqueeze(1);                           // (B, T, T)
        mask = mask | eye(time, time, ScalarType.Bool, device).unsqueeze(0);
        return (positions, mask.unsqueeze(1));                                         // (B, 1, T, T)
    }

    /// <summary>
    /// Packed rows at least this long attend with a causal attention per sample, shorter ones with one call and a block
    /// mask (the mask's work grows with T^2 whatever the samples; the loop's with the sum of their squares, plus a call
    /// per sample). Measured on a 2-core Zen 5, attention fwd+bwd, 2 rows x 8 heads of 64, mask against loop:
    /// float32 (flash) 256 tokens in 2 or 4 samples 8.7-9.2 against 7.3-12.0 ms, 510 tokens in 2 or 5 samples 33-36
    /// against 13-22 ms, 1,024 in 2 120 against 62; bf16 (the composed attention) 256 tokens 5.2-5.5 against 12-17 ms,
    /// 510 tokens 18.5 against 13-15 ms, 1,024 92 against 45. bench `packing`'s rows of examples/data (510 tokens, 2.5
    /// samples, float32): 36.4 against 21.7 ms; 2,046 tokens, 8.5 samples: 492 against 86 ms.
    /// </summary>
    private const int PerSampleAttentionFrom = 384;

    /// <summary>Per row, the lengths of the runs that start at each position 0 (the padding run included).</summary>
    private static long[][] SampleLengths(Tensor positionIds)
    {
        var (batch, time) = ((int)positionIds.shape[0], (int)positionIds.shape[1]);
        using var onCpu = positionIds.to(CPU);
        var positions = onCpu.data<long>().ToArray();
        return Enumerable.Range(0, batch).Select(row =>
        {
            var starts = Enumerable.Range(0, time).Where(t => t == 0 || positions[row * time + t] == 0).Append(time).ToArray();
            return starts.Zip(starts.Skip(1), (start, end) => (long)(end - start)).ToArray();
        }).ToArray();
    }

    /// <summary>
    /// Block-diagonal causal attention for packed rows shorter than <see cref="PerSampleAttentionFrom"/>: a query sees
    /// earlier keys of its own sample only (samples numbered by counting the position-0 starts). Rows holding a single
    /// sample followed by right padding need no mask at all (the causal path, as in <see cref="PositionsAndMask"/>).
    /// </summary>
    private static Tensor? SampleMask(Tensor positionIds, Tensor? attentionMask)
    {
        var time = positionIds.shape[1];
        var device = positionIds.device;
        var sample = positionIds.eq(0).to(ScalarType.Int64).cumsum(-1);              // (B, T): 1, 1, ..., 2, 2, ...
        var valid = attentionMask?.to(ScalarType.Bool) ?? ones_like(positionIds, ScalarType.Bool);
        if (sample.masked_select(valid).le(1).all().item<bool>() && !(valid[.., 1..] & ~valid[.., ..^1]).any().item<bool>())
            return null;
        var causal = ones(time, time, ScalarType.Bool, device).tril();                 // (T, T)
        var sameSample = sample.unsqueeze(2).eq(sample.unsqueeze(1));                  // (B, T, T)
        var mask = causal.unsqueeze(0) & sameSample & valid.unsqueeze(1);
        mask = mask | eye(time, time, ScalarType.Bool, device).unsqueeze(0);
        return mask.unsqueeze(1);                                                      // (B, 1, T, T)
    }
}
