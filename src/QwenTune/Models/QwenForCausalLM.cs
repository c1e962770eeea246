using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>
/// Qwen2ForCausalLM / Qwen3ForCausalLM: the decoder stack plus the language-model head. With tied embeddings
/// there is no lm_head module at all (the head multiplies by embed_tokens.weight), so the state dict matches
/// the keys Hugging Face saves.
/// </summary>
public sealed class QwenForCausalLM : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "model")] private readonly QwenModel _model;
    [ComponentName(Name = "lm_head")] private readonly QwenLinear? _lmHead;

    public QwenForCausalLM(QwenConfig config, ScalarType dtype = ScalarType.Float32, Device? device = null, QwenModelOptions? options = null)
        : base(nameof(QwenForCausalLM))
    {
        Config = config;
        Options = options ?? QwenModelOptions.Default;
        device ??= CPU;
        _model = new QwenModel(config, dtype, device, Options);
        if (!config.TieWordEmbeddings)
            _lmHead = new QwenLinear(config.HiddenSize, config.VocabSize, hasBias: false, dtype, device);
        RegisterComponents();
    }

    public QwenConfig Config { get; }

    public QwenModelOptions Options { get; }

    public QwenModel Model => _model;

    /// <summary>The weight that maps hidden states to vocabulary logits, [vocab, hidden].</summary>
    public Tensor LmHeadWeight => _lmHead?.Weight ?? _model.EmbedTokens.weight!;

    public ScalarType Dtype => _model.EmbedTokens.weight!.dtype;

    public Device Device => _model.EmbedTokens.weight!.device;

    /// <summary>(B, T) token ids to (B, T, V) logits in the model's dtype.</summary>
    public override Tensor forward(Tensor inputIds) => Logits(_model.call(inputIds, null));

    /// <summary>
    /// (B, T) ids, optional (B, T) attention mask and, for packed rows, (B, T) position ids that restart at each
    /// sample, to (B, T, C) final hidden states.
    /// </summary>
    public Tensor Hidden(Tensor inputIds, Tensor? attentionMask = null, Tensor? positionIds = null) => positionIds is null
        ? _model.call(inputIds, attentionMask)
        : _model.Forward(inputIds, attentionMask, positionIds);

    public Tensor Logits(Tensor hidden) => _lmHead is null
        ? BFloat16Products.Linear(hidden, _model.EmbedTokens.weight!)
        : _lmHead.call(hidden);

    /// <summary>
    /// Hugging Face's _init_weights for a fresh model: Linear and Embedding weights ~ N(0, initializer_range),
    /// biases zero, norms one. Seeded, so the same seed gives the same model.
    /// </summary>
    public void InitializeWeights(long seed)
    {
        using var noGrad = no_grad();
        var generator = new Generator((ulong)seed, Device);
        var std = Config.InitializerRange;
        foreach (var (name, parameter) in named_parameters())
        {
            if (name.EndsWith("norm.weight", StringComparison.Ordinal))
                parameter.fill_(1.0);
            else if (name.EndsWith(".bias", StringComparison.Ordinal))
                parameter.zero_();
            else
                parameter.normal_(0.0, std, generator);
        }
    }
}
