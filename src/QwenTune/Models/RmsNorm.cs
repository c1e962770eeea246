using TorchSharp;
using TorchSharp.Utils;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>
/// Qwen2RMSNorm: normalise in float32, cast back to the input dtype, then scale by the weight
/// (modeling_qwen2.py, expression by expression). The result keeps the input's dtype even when the weight is
/// float32 (Q-LoRA keeps norms in float32).
/// </summary>
public sealed class RmsNorm : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "weight")] private readonly Parameter _weight;
    private readonly double _eps;

    public RmsNorm(long size, double eps, ScalarType dtype, Device device) : base(nameof(RmsNorm))
    {
        _weight = new Parameter(ones([size], dtype, device));
        _eps = eps;
        RegisterComponents();
    }

    public Parameter Weight => _weight;

    public override Tensor forward(Tensor input)
    {
        using var scope = NewDisposeScope();
        var inputType = input.dtype;
        var hidden = input.to(ScalarType.Float32);
        var variance = hidden.pow(2).mean([-1], keepdim: true);
        hidden = hidden * rsqrt(variance + _eps);
        var output = _weight * hidden.to(inputType);
        return output.to(inputType).MoveToOuterDisposeScope();
    }
}
