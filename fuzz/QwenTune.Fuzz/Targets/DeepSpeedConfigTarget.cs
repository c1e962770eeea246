using QwenTune.Configuration;

namespace QwenTune.Fuzz.Targets;

/// <summary>A DeepSpeed JSON config: load, ZeRO settings and warnings, as <c>train --deepspeed</c> reads it.</summary>
public sealed class DeepSpeedConfigTarget : IFuzzTarget
{
    public string Name => "deepspeed-config";

    public string Description => "DeepSpeedConfig.Load, Zero(hidden size) and Warnings";

    public string InputFileName => "ds_config.json";

    public IReadOnlyList<string> Dictionary { get; } =
    [
        "\"zero_optimization\"", "\"stage\"", "\"auto\"", "\"offload_optimizer\"", "\"offload_param\"", "\"device\"",
        "\"cpu\"", "\"none\"", "\"reduce_bucket_size\"", "\"allgather_bucket_size\"", "\"overlap_comm\"", "\"scheduler\"",
        "\"type\"", "\"WarmupLR\"", "\"WarmupDecayLR\"", "\"params\"", "\"warmup_num_steps\"", "\"fp16\"", "\"bf16\"",
        "\"enabled\"", "\"loss_scale\"", "\"initial_scale_power\"", "\"loss_scale_window\"", "\"hysteresis\"",
        "\"min_loss_scale\"", "\"optimizer\"", "\"gradient_clipping\"", "true", "false", "null", "{", "}", "[", "]",
        ",", ":", "// c\n", "/* c */",
    ];

    public void Prepare(string workFolder) => Directory.CreateDirectory(workFolder);

    public void Execute(string inputPath, byte[] input)
    {
        var config = DeepSpeedConfig.Load(inputPath);
        _ = config.Zero(hiddenSize: 896);
        _ = config.Warnings();
        _ = config.Scheduler;
        _ = config.LossScale;
    }
}
