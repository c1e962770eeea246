using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>
/// Grouped-query self-attention of Qwen2 (q/k/v bias) and Qwen3 (per-head RMSNorm on q and k before RoPE,
/// optional bias, head_dim independent of hidden_size).
/// </summary>
public sealed class QwenAttention : nn.Module<Tensor, AttentionInputs, Tensor>
{
    [ComponentName(Name = "q_proj")] private readonly QwenLinear _qProj;
    [ComponentName(Name = "k_proj")] private readonly QwenLinear _kProj;
    [ComponentName(Name = "v_proj")] private readonly QwenLinear _vProj;
    [ComponentName(Name = "o_proj")] private readonly QwenLinear _oProj;
    [ComponentName(Name = "q_norm")] private readonly RmsNorm? _qNorm;
    [ComponentName(Name = "k_norm")] private readonly RmsNorm? _kNorm;
    private readonly int _heads;
    private readonly int _kvHeads;
    private readonly int _headDim;

    public QwenAttention(QwenConfig config, ScalarType dtype, Device device, QwenModelOptions options) : base(nameof(QwenAttention))
    {
        _heads = config.NumAttentionHeads;
        _kvHeads = config.KeyValueHeads;
        _headDim = config.HeadDim;
        _qProj = new QwenLinear(config.HiddenSize, _heads * _headDim, config.QkvBias, dtype, device, options.QuantizeLinears);
        _kProj = new QwenLinear(config.HiddenSize, _kvHeads * _headDim, config.QkvBias, dtype, device, options.QuantizeLinears);
        _vProj = new QwenLinear(config.HiddenSize, _kvHeads * _headDim, config.QkvBias, dtype, device, options.QuantizeLinears);
        _oProj = new QwenLinear(_heads * _headDim, config.HiddenSize, config.OutputBias, dtype, device, options.QuantizeLinears);
        if (config.IsQwen3)
        {
            _qNorm = new RmsNorm(_headDim, config.RmsNormEps, options.NormDtype(dtype), device);
            _kNorm = new RmsNorm(_headDim, config.RmsNormEps, options.NormDtype(dtype), device);
        }
        RegisterComponents();
    }

    public override Tensor forward(Tensor x, AttentionInputs inputs)
    {
        using var scope = NewDisposeScope();
        var (batch, time) = (x.shape[0], x.shape[1]);
        var q = _qProj.call(x).view(batch, time, _heads, _headDim);      // (B, T, H, D)
        var k = _kProj.call(x).view(batch, time, _kvHeads, _headDim);    // (B, T, Hkv, D)
        var v = _vProj.call(x).view(batch, time, _kvHeads, _headDim);
        if (_qNorm is not null && _kNorm is not null)
        {
            q = _qNorm.call(q);
            k = _kNorm.call(k);
        }
        q = RotaryEmbedding.Apply(q.transpose(1, 2), inputs.Cos, inputs.Sin);  // (B, H, T, D)
        k = RotaryEmbedding.Apply(k.transpose(1, 2), inputs.Cos, inputs.Sin);  // (B, Hkv, T, D)
        v = v.transpose(1, 2);
        if (inputs.Cache is { } cache)
            (k, v) = cache.Append(k, v);                                 // (B, Hkv, past + T, D)
        if (_kvHeads != _heads)
        {
            // HF's repeat_kv: each kv head serves heads/kv_heads consecutive query heads.
            k = k.repeat_interleave(_heads / _kvHeads, dim: 1);           // (B, H, T, D)
            v = v.repeat_interleave(_heads / _kvHeads, dim: 1);
        }
        var attended = inputs.SampleLengths is { } sampleLengths
            ? PackedAttention.PerSample(q, k, v, sampleLengths)
            : BFloat16Products.Attention(q, k, v, inputs.Mask);                 // (B, H, T, D)
        var merged = attended.transpose(1, 2).reshape(batch, time, _heads * _headDim);  // (B, T, H*D)
        return _oProj.call(merged).MoveToOuterDisposeScope();
    }
}
