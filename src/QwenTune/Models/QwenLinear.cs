using QwenTune.Quantization;
using TorchSharp;
using TorchSharp.Modules;
using TorchSharp.Utils;
using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>
/// The linear projection every Qwen layer uses, holding `weight` [out, in] and an optional `bias` [out] under
/// Hugging Face's key names, and optionally a LoRA adapter beside it (`lora_A.weight` [r, in], `lora_B.weight`
/// [out, r], PEFT's names) and/or a 4-bit NF4 weight in place of the dense one. It is our own module (not
/// TorchSharp's Linear) because TorchSharp cannot swap a registered submodule after construction.
/// </summary>
public sealed class QwenLinear : nn.Module<Tensor, Tensor>
{
    [ComponentName(Name = "weight")] private readonly Parameter? _weight;
    [ComponentName(Name = "bias")] private readonly Parameter? _bias;
    private Nf4Tensor? _quantized;
    private Linear? _loraA;
    private Linear? _loraB;
    private double _loraDropout;
    private Generator? _generator;
    private Device _device;

    public QwenLinear(long inFeatures, long outFeatures, bool hasBias, ScalarType dtype, Device device, bool quantized = false)
        : base(nameof(QwenLinear))
    {
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        IsQuantized = quantized;
        _device = device;
        if (!quantized)
            _weight = new Parameter(empty([outFeatures, inFeatures], dtype, device));
        if (hasBias)
            _bias = new Parameter(zeros([outFeatures], dtype, device));
        RegisterComponents();
    }

    public long InFeatures { get; }

    public long OutFeatures { get; }

    public bool IsQuantized { get; }

    /// <summary>The dense weight; null for an NF4 layer.</summary>
    public Parameter? Weight => _weight;

    public Nf4Tensor? QuantizedWeight => _quantized;

    public Parameter? Bias => _bias;

    public bool HasLora => _loraA is not null;

    public double LoraScaling { get; private set; }

    public Linear? LoraA => _loraA;

    public Linear? LoraB => _loraB;

    /// <summary>Stores <paramref name="weight"/> [out, in] as NF4 (the layer must have been built quantized).</summary>
    public void SetQuantizedWeight(Tensor weight)
    {
        if (!IsQuantized)
            throw new InvalidOperationException("SetQuantizedWeight on a dense layer.");
        if (weight.dim() != 2 || weight.shape[0] != OutFeatures || weight.shape[1] != InFeatures)
            throw new QwenTuneException($"weight of shape [{string.Join(", ", weight.shape)}] does not fit a [{OutFeatures}, {InFeatures}] projection.");
        _quantized?.Dispose();
        using var onDevice = weight.to(_device);
        _quantized = Nf4Tensor.Quantize(onDevice);
    }

    /// <summary>
    /// Adds a LoRA adapter as PEFT initialises it: A ~ kaiming_uniform(a = sqrt(5)), B = 0, so the layer's output
    /// is unchanged until B trains. Adapter weights are float32 (PEFT's autocast_adapter_dtype) whatever the base;
    /// they compute in the activations' dtype.
    /// <paramref name="generator"/> draws the initialisation and, later, the dropout masks: a run's own generator
    /// keeps its randomness reproducible whatever else in the process uses libtorch's global one.
    /// The layer knows only rank, scaling and dropout; which layers get adapters is the PEFT layer's choice.
    /// </summary>
    public void AddLora(int rank, double scaling, double dropout, Generator? generator = null)
    {
        if (_loraA is not null)
            throw new InvalidOperationException("LoRA already added.");
        _loraA = nn.Linear(InFeatures, rank, hasBias: false, device: _device, dtype: ScalarType.Float32);
        _loraB = nn.Linear(rank, OutFeatures, hasBias: false, device: _device, dtype: ScalarType.Float32);
        using (no_grad())
        {
            var bound = 1.0 / Math.Sqrt(InFeatures);   // kaiming_uniform with a = sqrt(5): gain * sqrt(3 / fan_in)
            _loraA.weight!.uniform_(-bound, bound, generator);
            _loraB.weight!.zero_();
        }
        _loraDropout = dropout;
        _generator = generator;
        LoraScaling = scaling;
        register_module("lora_A", _loraA);
        register_module("lora_B", _loraB);
    }

    public override Tensor forward(Tensor input)
    {
        var output = _quantized is not null
            ? Nf4MatMul.Apply(input, _quantized) + (_bias is null ? 0 : CastTo(_bias, input.dtype))
            : Dense(input);
        if (_loraA is null || _loraB is null)
            return output;
        using var scope = NewDisposeScope();
        // The adapter weights are float32 masters; the products run in the activations' dtype, as under Hugging Face's
        // bf16 autocast (casting r x in and out x r matrices is cheap, casting every activation to float32 is not).
        var x = training && _loraDropout > 0 ? LoraDropout.Apply(input, _loraDropout, _generator) : input;
        var down = BFloat16Products.Linear(x, _loraA.weight!.to(input.dtype));                   // (..., r)
        // PEFT scales the (..., out) update. A power-of-two scaling (alpha / r = 16 / 64 in Qwen's finetune.sh, alpha = r,
        // rsLoRA's 16 / sqrt(64)) is folded into B instead, with the same bits: scaling by a power of two is exact, so each
        // product, each sum and the rounding commute with it; the update then takes no pass of its own, forward or backward.
        var update = ScalingIsPowerOfTwo(LoraScaling)
            ? BFloat16Products.Linear(down, LoraScaling == 1 ? _loraB.weight!.to(input.dtype) : (_loraB.weight! * LoraScaling).to(input.dtype))
            : BFloat16Products.Linear(down, _loraB.weight!.to(input.dtype)) * LoraScaling;   // (..., out)
        return (output + update).MoveToOuterDisposeScope();
    }

    private static bool ScalingIsPowerOfTwo(double scaling) =>
        scaling > 0 && double.IsFinite(scaling) && Math.ScaleB(1.0, Math.ILogB(scaling)) == scaling;

    private Tensor Dense(Tensor input)
    {
        if (!BFloat16Products.WidensLinear(input, _weight!))
            return nn.functional.linear(input, _weight!, _bias);
        var product = BFloat16Products.Linear(input, _weight!);
        return _bias is null ? product : product + _bias;
    }

    /// <summary>The dense weight with the adapter folded in: W + scaling * B @ A, in the weight's dtype.</summary>
    public Tensor MergedWeight()
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var baseWeight = _quantized?.Dequantize(ScalarType.Float32) ?? _weight!.to(ScalarType.Float32);
        var dtype = _weight?.dtype ?? _quantized!.OriginalDtype;
        var merged = _loraA is null
            ? baseWeight
            : baseWeight + _loraB!.weight!.matmul(_loraA.weight!) * LoraScaling;
        return merged.to(dtype).MoveToOuterDisposeScope();
    }

    private static Tensor CastTo(Tensor t, ScalarType dtype) => t.dtype == dtype ? t : t.to(dtype);

    // Module.to(device) moves registered tensors only; the NF4 storage (neither parameter nor buffer) follows here.
    protected override void _toEpilog(ScalarType? dtype, Device? device, bool non_blocking)
    {
        base._toEpilog(dtype, device, non_blocking);
        if (device is null)
            return;
        _device = device;
        if (_quantized is null || device.ToString() == _quantized.Device.ToString())
            return;
        var moved = _quantized.To(device);
        _quantized.Dispose();
        _quantized = moved;
    }

    protected override void Dispose(bool disposing)
    {
        if (disposing)
            _quantized?.Dispose();
        base.Dispose(disposing);
    }
}
