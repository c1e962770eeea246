using System.Globalization;
using QwenTune.Configuration;

namespace QwenTune.Training;

/// <summary>
/// DeepSpeed's fp16 loss scaler (deepspeed/runtime/fp16/loss_scaler.py, DynamicLossScaler.update_scale), driven by a
/// config's fp16 block. On overflow the step is skipped and, once `hysteresis` overflows have used up the delay, the
/// scale is halved (never below min_loss_scale; an overflow already at the minimum ends the run, as DeepSpeed raises).
/// After loss_scale_window clean steps since the last overflow the scale doubles and the hysteresis refills.
/// loss_scale > 0 is a static scale: overflowing steps are skipped and the scale never changes.
/// </summary>
public sealed class DeepSpeedLossScaler : ILossScaler
{
    private const double ScaleFactor = 2.0;
    private readonly DeepSpeedLossScale _settings;
    private long _iteration;
    private long _lastOverflowIteration = -1;
    private int _hysteresisLeft;

    public DeepSpeedLossScaler(DeepSpeedLossScale settings)
    {
        _settings = settings;
        Scale = settings.StaticScale > 0 ? settings.StaticScale : Math.Pow(2, settings.InitialScalePower);
        _hysteresisLeft = settings.Hysteresis;
    }

    public double Scale { get; private set; }

    private bool IsDynamic => _settings.StaticScale == 0;

    public void Update(bool overflowed)
    {
        if (!IsDynamic)
            return;
        if (overflowed)
        {
            if (_settings.Hysteresis == 1 || _hysteresisLeft == 1)
            {
                if (Scale == _settings.MinScale)
                    throw new QwenTuneException(
                        $"fp16 loss scale is already at its minimum ({_settings.MinScale}) and the gradients still overflow; " +
                        "lower the learning rate, or train in --bf16 where the hardware has it.");
                Scale = Math.Max(Scale / ScaleFactor, _settings.MinScale);
            }
            else
            {
                _hysteresisLeft--;
            }
            _lastOverflowIteration = _iteration;
        }
        else
        {
            if (_settings.ConsecutiveHysteresis)
                _hysteresisLeft = _settings.Hysteresis;
            var stableSteps = _iteration - _lastOverflowIteration - 1;
            if (stableSteps > 0 && stableSteps % _settings.ScaleWindow == 0)
            {
                if (!_settings.ConsecutiveHysteresis)
                    _hysteresisLeft = _settings.Hysteresis;
                Scale *= ScaleFactor;
            }
        }
        _iteration++;
    }

    public IReadOnlyDictionary<string, string> State => new Dictionary<string, string>
    {
        ["loss_scale"] = Scale.ToString("R", CultureInfo.InvariantCulture),
        ["loss_scale_iteration"] = _iteration.ToString(CultureInfo.InvariantCulture),
        ["loss_scale_last_overflow"] = _lastOverflowIteration.ToString(CultureInfo.InvariantCulture),
        ["loss_scale_hysteresis"] = _hysteresisLeft.ToString(CultureInfo.InvariantCulture),
    };

    public void Restore(IReadOnlyDictionary<string, string> state)
    {
        if (state.TryGetValue("loss_scale", out var scale))
            Scale = double.Parse(scale, CultureInfo.InvariantCulture);
        _iteration = long.Parse(state.GetValueOrDefault("loss_scale_iteration") ?? "0", CultureInfo.InvariantCulture);
        _lastOverflowIteration = long.Parse(state.GetValueOrDefault("loss_scale_last_overflow") ?? "-1", CultureInfo.InvariantCulture);
        _hysteresisLeft = int.Parse(state.GetValueOrDefault("loss_scale_hysteresis") ?? _settings.Hysteresis.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture);
    }
}
