using TorchSharp;
using TorchSharp.Utils;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>
/// The linear projection every Qwen layer uses, holding `weight` [out, in] and an optional `bias` [out] under
/// Hugging Face's key names. It is our own module (not TorchSharp's Linear) so that LoRA adapters and 4-bit
/// storage can live inside it: TorchSharp cannot swap a registered submodule after construction.
/// </summary>
public sealed class QwenLinear : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "weight")] private readonly Parameter _weight;
    [ComponentName(Name = "bias")] private readonly Parameter? _bias;

    public QwenLinear(long inFeatures, long outFeatures, bool hasBias, ScalarType dtype, Device device)
        : base(nameof(QwenLinear))
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        _weight = new Parameter(empty([outFeatures, inFeatures], dtype, device));
        if (hasBias)
            _bias = new Parameter(zeros([outFeatures], dtype, device));
        RegisterComponents();
    }

    public long InFeatures { get; }

    public long OutFeatures { get; }

    public Parameter Weight => _weight;

    public Parameter? Bias => _bias;

    public override Tensor forward(Tensor input) => nn.functional.linear(input, _weight, _bias);
}
