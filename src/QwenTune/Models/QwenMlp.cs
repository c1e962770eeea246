using TorchSharp;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>SwiGLU feed-forward: down(silu(gate(x)) * up(x)).</summary>
public sealed class QwenMlp : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "gate_proj")] private readonly QwenLinear _gateProj;
    [ComponentName(Name = "up_proj")] private readonly QwenLinear _upProj;
    [ComponentName(Name = "down_proj")] private readonly QwenLinear _downProj;

    public QwenMlp(QwenConfig config, ScalarType dtype, Device device, QwenModelOptions options) : base(nameof(QwenMlp))
    {
        _gateProj = new QwenLinear(config.HiddenSize, config.IntermediateSize, hasBias: false, dtype, device, options.QuantizeLinears);
        _upProj = new QwenLinear(config.HiddenSize, config.IntermediateSize, hasBias: false, dtype, device, options.QuantizeLinears);
        _downProj = new QwenLinear(config.IntermediateSize, config.HiddenSize, hasBias: false, dtype, device, options.QuantizeLinears);
        RegisterComponents();
    }

    public override Tensor forward(Tensor x)
    {
        using var scope = NewDisposeScope();
        var gated = nn.functional.silu(_gateProj.call(x)) * _upProj.call(x);
        return _downProj.call(gated).MoveToOuterDisposeScope();
    }
}
