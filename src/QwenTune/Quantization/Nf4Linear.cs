using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace QwenTune.Quantization;

/// <summary>
/// A linear layer whose frozen weight is stored as NF4 (Q-LoRA's base layer): y = x @ dequant(W)^T + b in x's dtype.
/// The NF4 storage is neither a parameter nor a buffer (it never trains and would not survive a dtype conversion);
/// the only registered tensor is the optional <c>bias</c>, a Parameter frozen by default like the rest of the base
/// model. Backward gives a gradient for x (and for the bias if the caller unfreezes it), never for W.
/// </summary>
public sealed class Nf4Linear : nn.Module<Tensor, Tensor>
{
    private Nf4Tensor _weight;

    [ComponentName(Name = "bias")] private Parameter? _bias;

    /// <summary>Takes ownership of <paramref name="weight"/> (out, in); <paramref name="bias"/> (out) is copied.</summary>
    public Nf4Linear(Nf4Tensor weight, Tensor? bias = null) : base(nameof(Nf4Linear))
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (weight.Shape.Count != 2)
            throw new ArgumentException($"An NF4 linear weight must be 2-D (out, in), got [{string.Join(", ", weight.Shape)}].", nameof(weight));
        if (bias is not null && (bias.dim() != 1 || bias.shape[0] != weight.Shape[0]))
            throw new ArgumentException($"Bias shape [{string.Join(", ", bias.shape)}] does not match out_features {weight.Shape[0]}.", nameof(bias));
        _weight = weight;
        if (bias is not null)
        {
            using var noGrad = no_grad();
            _bias = new Parameter(bias.detach().to(weight.Device, copy: true), requires_grad: false);
        }
        RegisterComponents();
    }

    public long InFeatures => _weight.Shape[1];

    public long OutFeatures => _weight.Shape[0];

    public Nf4Tensor Weight => _weight;

    /// <summary>The registered "bias" parameter (out), or null. Module.to replaces it through this setter.</summary>
    public Parameter? bias
    {
        get => _bias;
        private set
        {
            _bias?.Dispose();
            _bias = value?.DetachFromDisposeScope() as Parameter;
            ConditionallyRegisterParameter("bias", _bias);
        }
    }

    /// <summary>x (..., in) -> (..., out).</summary>
    public override Tensor forward(Tensor input)
    {
        var output = Nf4MatMul.Apply(input, _weight);
        if (_bias is null)
            return output;
        return output + (_bias.dtype == input.dtype ? _bias : _bias.to(input.dtype));
    }

    // Module.to(device) moves registered tensors only; the NF4 storage follows here, keeping its own dtypes.
    protected override void _toEpilog(ScalarType? dtype, Device? device, bool non_blocking)
    {
        base._toEpilog(dtype, device, non_blocking);
        if (device is null || device.ToString() == _weight.Device.ToString())
            return;
        var moved = _weight.To(device);
        _weight.Dispose();
        _weight = moved;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _weight.Dispose();
        base.Dispose(disposing);
    }
}
