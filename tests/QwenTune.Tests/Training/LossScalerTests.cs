using QwenTune.Configuration;
using QwenTune.Training;

namespace QwenTune.Tests.Training;

/// <summary>
/// DeepSpeed's fp16 loss scaler, stepped by hand through the rules of deepspeed/runtime/fp16/loss_scaler.py
/// (update_scale): hysteresis delays the halving, the window counts clean steps since the last overflow.
/// </summary>
public sealed class LossScalerTests
{
    [Fact]
    public void Deepspeed_fp16_block_sets_initial_scale_window_hysteresis_and_minimum()
    {
        var scaler = new DeepSpeedLossScaler(new DeepSpeedLossScale { InitialScalePower = 4, ScaleWindow = 3, Hysteresis = 2, MinScale = 4 });
        Assert.Equal(16, scaler.Scale);
        scaler.Update(overflowed: true);    // iteration 0: hysteresis 2 -> 1, scale kept
        Assert.Equal(16, scaler.Scale);
        scaler.Update(overflowed: true);    // iteration 1: hysteresis used up: halve
        Assert.Equal(8, scaler.Scale);
        scaler.Update(overflowed: true);    // iteration 2: still 1 left of the delay: halve again
        Assert.Equal(4, scaler.Scale);
        for (var i = 0; i < 3; i++)         // iterations 3, 4, 5: stable 0, 1, 2
            scaler.Update(overflowed: false);
        Assert.Equal(4, scaler.Scale);
        scaler.Update(overflowed: false);   // iteration 6: 3 clean steps since the overflow: double, refill hysteresis
        Assert.Equal(8, scaler.Scale);
        scaler.Update(overflowed: true);    // refilled to 2: this overflow only uses one up
        Assert.Equal(8, scaler.Scale);
    }

    [Fact]
    public void An_overflow_at_the_minimum_scale_stops_the_run_as_deepspeed_does()
    {
        var scaler = new DeepSpeedLossScaler(new DeepSpeedLossScale { InitialScalePower = 1, Hysteresis = 1, MinScale = 1 });
        scaler.Update(overflowed: true);
        Assert.Equal(1, scaler.Scale);
        Assert.Contains("already at its minimum", Assert.Throws<QwenTuneException>(() => scaler.Update(overflowed: true)).Message);
    }

    [Fact]
    public void A_static_loss_scale_never_changes()
    {
        var scaler = new DeepSpeedLossScaler(new DeepSpeedLossScale { StaticScale = 128 });
        scaler.Update(overflowed: true);
        for (var i = 0; i < 5000; i++)
            scaler.Update(overflowed: false);
        Assert.Equal(128, scaler.Scale);
    }

    [Fact]
    public void State_restores_the_same_future()
    {
        var settings = new DeepSpeedLossScale { InitialScalePower = 5, ScaleWindow = 2, Hysteresis = 3 };
        var original = new DeepSpeedLossScaler(settings);
        bool[] history = [true, false, true, false, false, true, false, false, false];
        foreach (var overflow in history[..4])
            original.Update(overflow);
        var restored = new DeepSpeedLossScaler(settings);
        restored.Restore(original.State);
        foreach (var overflow in history[4..])
        {
            original.Update(overflow);
            restored.Update(overflow);
            Assert.Equal(original.Scale, restored.Scale);
        }
    }

    [Fact]
    public void Fp16_with_a_deepspeed_config_uses_its_fp16_block_and_without_one_torch_grad_scaler()
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("ds.json"), """{"fp16": {"enabled": "auto", "initial_scale_power": 8, "loss_scale_window": 100}}""");
        var fromConfig = LossScalers.For(fp16: true, DeepSpeedConfig.Load(folder.File("ds.json")));
        Assert.Equal(256, fromConfig!.Scale);
        Assert.Equal(65536, LossScalers.For(fp16: true, null)!.Scale);
        Assert.Null(LossScalers.For(fp16: false, DeepSpeedConfig.Load(folder.File("ds.json"))));
    }
}
