using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// Which AdamW arithmetic: torch.optim.AdamW's (HF's adamw_torch and adamw_torch_fused; also DeepSpeed's AdamW), or
/// the one of transformers' own legacy AdamW class (adamw_hf), which adds epsilon before the bias correction and
/// applies weight decay after the Adam update instead of before it.
/// </summary>
public enum AdamWVariant
{
    Torch,
    TransformersLegacy,
}

/// <summary>AdamW hyper-parameters, as TrainingArguments names them.</summary>
public sealed record AdamWOptions(double Beta1, double Beta2, double Epsilon, double WeightDecay, AdamWVariant Variant = AdamWVariant.Torch)
{
    /// <summary>--optim: the names whose arithmetic this updater has; any other HF optimizer is refused with the reason.</summary>
    public static AdamWVariant VariantFor(string optim) => optim switch
    {
        "adamw_torch" or "adamw_torch_fused" => AdamWVariant.Torch,
        "adamw_hf" => AdamWVariant.TransformersLegacy,
        "adamw_apex_fused" or "adamw_torch_xla" or "adamw_torch_npu_fused" => throw Refused(optim,
            "it is torch's AdamW run by a vendor kernel (apex, XLA, NPU) that QwenTune does not carry; --optim adamw_torch computes the same update"),
        _ when optim.Contains("8bit", StringComparison.Ordinal) || optim.StartsWith("paged_", StringComparison.Ordinal) || optim.Contains("bnb", StringComparison.Ordinal) =>
            throw Refused(optim, "bitsandbytes' 8-bit and paged optimizers are CUDA kernels QwenTune does not carry; Q-LoRA here keeps float32 optimizer state for its small adapters"),
        _ => throw Refused(optim, "QwenTune trains with AdamW only (adamw_torch, adamw_torch_fused, adamw_hf)"),
    };

    private static QwenTuneException Refused(string optim, string reason) => new($"--optim {optim} is not supported: {reason}.");
}

/// <summary>
/// The optimizer step of one process: gradients are clipped by their global norm, and AdamW (torch.optim.AdamW's
/// arithmetic, step by step) updates float32 master weights that are copied back into the model's parameters (bf16 or
/// fp16 models keep full-precision masters; fp32 models update in place). Optimizer state is always float32.
/// Several ranks use <see cref="ZeroUpdater"/>, which applies the same <see cref="AdamWMath"/> to each rank's share.
/// </summary>
public sealed class AdamWUpdater : IParameterUpdater
{
    private readonly IReadOnlyList<TrainableParameter> _parameters;
    private readonly AdamWOptions _options;
    private readonly Tensor?[] _masters;
    private readonly Tensor[] _expAvg;
    private readonly Tensor[] _expAvgSq;

    public AdamWUpdater(IReadOnlyList<TrainableParameter> parameters, AdamWOptions options)
    {
        _parameters = parameters;
        _options = options;
        _masters = new Tensor?[parameters.Count];
        _expAvg = new Tensor[parameters.Count];
        _expAvgSq = new Tensor[parameters.Count];
        using var noGrad = no_grad();
        for (var i = 0; i < parameters.Count; i++)
        {
            var p = parameters[i].Parameter;
            if (p.dtype != ScalarType.Float32)
                _masters[i] = p.detach().to(ScalarType.Float32).DetachFromDisposeScope();
            _expAvg[i] = zeros(p.shape, ScalarType.Float32, p.device).DetachFromDisposeScope();
            _expAvgSq[i] = zeros(p.shape, ScalarType.Float32, p.device).DetachFromDisposeScope();
        }
    }

    public long StepCount { get; private set; }

    public IReadOnlyList<TrainableParameter> Parameters => _parameters;

    public void ZeroGrad()
    {
        foreach (var p in _parameters)
            p.Parameter.grad = null;
    }

    public StepResult Step(double learningRate, double maxGradNorm, double lossScale = 1.0)
    {
        using var noGrad = no_grad();
        // Two passes: the global norm first (clipping needs it), then the update, one parameter at a time.
        var sumOfSquares = 0.0;
        foreach (var p in _parameters)
        {
            if (p.Parameter.grad is { } grad)
                sumOfSquares += AdamWMath.SumOfSquares(grad);
        }
        var norm = Math.Sqrt(sumOfSquares) / lossScale;
        if (!double.IsFinite(norm))
            return new StepResult(norm, Skipped: true);
        // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below one.
        var clip = maxGradNorm > 0 ? Math.Min(1.0, maxGradNorm / (norm + 1e-6)) : 1.0;
        StepCount++;
        for (var i = 0; i < _parameters.Count; i++)
        {
            using var scope = NewDisposeScope();
            var p = _parameters[i].Parameter;
            var grad = p.grad ?? zeros(p.shape, ScalarType.Float32, p.device);
            var decay = _parameters[i].Decay ? _options.WeightDecay : 0.0;
            AdamWMath.Update(_masters[i] ?? p, _expAvg[i], _expAvgSq[i], grad, clip / lossScale, learningRate, decay, StepCount, _options,
                lowPrecisionCopy: _masters[i] is null ? null : p);
        }
        return new StepResult(norm, Skipped: false);
    }

    /// <summary>Optimizer state by parameter name: step, exp_avg, exp_avg_sq and (when kept) master weights.</summary>
    public IEnumerable<KeyValuePair<string, Tensor>> StateTensors()
    {
        for (var i = 0; i < _parameters.Count; i++)
        {
            var name = _parameters[i].Name;
            yield return new($"exp_avg.{name}", _expAvg[i]);
            yield return new($"exp_avg_sq.{name}", _expAvgSq[i]);
            if (_masters[i] is { } master)
                yield return new($"master.{name}", master);
        }
    }

    /// <summary>Restores state written by <see cref="StateTensors"/>; every tensor must be present.</summary>
    public void LoadState(long stepCount, Func<string, Tensor?> lookup, string source)
    {
        using var noGrad = no_grad();
        StepCount = stepCount;
        foreach (var (name, tensor) in StateTensors().ToList())
        {
            var saved = lookup(name)
                ?? throw new QwenTuneException($"{source}: optimizer state '{name}' is missing; the checkpoint does not match this model or these trainable parameters.");
            if (!saved.shape.SequenceEqual(tensor.shape))
                throw new QwenTuneException($"{source}: optimizer state '{name}' has shape [{string.Join(", ", saved.shape)}], expected [{string.Join(", ", tensor.shape)}].");
            tensor.copy_(saved);
        }
        for (var i = 0; i < _parameters.Count; i++)
        {
            if (_masters[i] is { } master)
                _parameters[i].Parameter.copy_(master);
        }
    }

    public void Dispose()
    {
        foreach (var t in _expAvg.Concat(_expAvgSq).Concat(_masters.OfType<Tensor>()))
            t.Dispose();
    }
}
