using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>Pre-norm transformer block: x + attn(norm(x)), then x + mlp(norm(x)).</summary>
public sealed class QwenDecoderLayer : nn.Module<Tensor, AttentionInputs, Tensor>
{
    [ComponentName(Name = "self_attn")] private readonly QwenAttention _selfAttn;
    [ComponentName(Name = "mlp")] private readonly QwenMlp _mlp;
    [ComponentName(Name = "input_layernorm")] private readonly RmsNorm _inputLayerNorm;
    [ComponentName(Name = "post_attention_layernorm")] private readonly RmsNorm _postAttentionLayerNorm;

    public QwenDecoderLayer(QwenConfig config, ScalarType dtype, Device device, QwenModelOptions options) : base(nameof(QwenDecoderLayer))
    {
        _selfAttn = new QwenAttention(config, dtype, device, options);
        _mlp = new QwenMlp(config, dtype, device, options);
        _inputLayerNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, options.NormDtype(dtype), device);
        _postAttentionLayerNorm = new RmsNorm(config.HiddenSize, config.RmsNormEps, options.NormDtype(dtype), device);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, AttentionInputs inputs)
    {
        using var scope = NewDisposeScope();
        var hidden = x + _selfAttn.call(_inputLayerNorm.call(x), inputs);
        hidden = hidden + _mlp.call(_postAttentionLayerNorm.call(hidden));
        return hidden.MoveToOuterDisposeScope();
    }
}
