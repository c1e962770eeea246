using QwenTune.Configuration;
using QwenTune.Training;

namespace QwenTune.Tests.Configuration;

public sealed class DeepSpeedConfigTests
{
    private static DeepSpeedConfig Write(TempFolder folder, string json)
    {
        File.WriteAllText(folder.File("ds.json"), json);
        return DeepSpeedConfig.Load(folder.File("ds.json"));
    }

    [Theory]
    [InlineData("ds_config_zero2.json", 2)]
    [InlineData("ds_config_zero3.json", 3)]
    public void Shipped_configs_read_with_auto_values_accepted(string file, int stage)
    {
        var config = DeepSpeedConfig.Load(Path.Combine(Fixtures.RepositoryRoot, "configs", file));
        Assert.Equal(stage, config.ZeroStage);
        config.Validate(new TrainingArguments { Bf16 = true, LearningRate = 3e-4 }, worldSize: 1);
        Assert.Null(config.Scheduler);
        Assert.Equal(new DeepSpeedLossScale { StaticScale = 0, InitialScalePower = 16, ScaleWindow = 1000, Hysteresis = 2, MinScale = 1 }, config.LossScale);
    }

    [Fact]
    public void Explicit_values_that_disagree_with_the_command_line_are_listed()
    {
        using var folder = new TempFolder();
        var config = Write(folder, """
            {"train_micro_batch_size_per_gpu": 4, "gradient_accumulation_steps": "auto", "bf16": {"enabled": true},
             "optimizer": {"type": "AdamW", "params": {"lr": 1e-4, "betas": [0.9, 0.95], "eps": "auto", "weight_decay": "auto"}},
             "zero_optimization": {"stage": 2}}
            """);
        var error = Assert.Throws<QwenTuneException>(() =>
            config.Validate(new TrainingArguments { PerDeviceTrainBatchSize = 2, LearningRate = 3e-4, AdamBeta2 = 0.95 }, 1));
        Assert.Contains("train_micro_batch_size_per_gpu = 4, but --per_device_train_batch_size = 2", error.Message);
        Assert.Contains("optimizer.params.lr = 0.0001, but --learning_rate = 0.0003", error.Message);
        Assert.Contains("bf16.enabled = true, but --bf16 = False", error.Message);
        Assert.DoesNotContain("betas[1]", error.Message);   // 0.95 agrees
    }

    [Fact]
    public void Warmup_lr_follows_deepspeed_log_warmup_then_constant()
    {
        using var folder = new TempFolder();
        var config = Write(folder, """
            {"scheduler": {"type": "WarmupLR", "params": {"warmup_min_lr": "auto", "warmup_max_lr": "auto", "warmup_num_steps": 10}}}
            """);
        var schedule = DeepSpeedWarmupSchedule.From(config.Scheduler!, new TrainingArguments { LearningRate = 1e-3 }, 100);
        Assert.Equal(0.0, schedule.LearningRate(0), 12);
        Assert.Equal(1e-3 * Math.Log(5) / Math.Log(10), schedule.LearningRate(4), 12);
        Assert.Equal(1e-3, schedule.LearningRate(10), 12);
        Assert.Equal(1e-3, schedule.LearningRate(99), 12);
        var decay = DeepSpeedWarmupSchedule.From(Write(folder, """
            {"scheduler": {"type": "WarmupDecayLR", "params": {"warmup_num_steps": 10, "total_num_steps": 110, "warmup_type": "linear"}}}
            """).Scheduler!, new TrainingArguments { LearningRate = 1e-3 }, 110);
        Assert.Equal(5e-4, decay.LearningRate(5), 12);
        Assert.Equal(5e-4, decay.LearningRate(60), 12);
    }

    [Fact]
    public void Unsupported_optimizer_and_bad_json_are_named()
    {
        using var folder = new TempFolder();
        Assert.Contains("optimizer.type 'Lamb' is not supported", Assert.Throws<QwenTuneException>(() =>
            Write(folder, """{"optimizer": {"type": "Lamb"}}""").Validate(new TrainingArguments(), 1)).Message);
        Assert.Contains("malformed JSON", Assert.Throws<QwenTuneException>(() => Write(folder, "{\"zero_optimization\": ")).Message);
        Assert.Contains("zero_optimization.stage must be 0, 1, 2 or 3", Assert.Throws<QwenTuneException>(() =>
            Write(folder, """{"zero_optimization": {"stage": 4}}""")).Message);
    }
}
