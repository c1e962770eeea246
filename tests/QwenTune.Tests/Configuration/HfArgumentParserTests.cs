using QwenTune.Configuration;

namespace QwenTune.Tests.Configuration;

public sealed class HfArgumentParserTests
{
    private static readonly HfArgumentParser Parser =
        new(typeof(ModelArguments), typeof(DataArguments), typeof(TrainingArguments), typeof(LoraArguments));

    private static TrainingArguments Training(params string[] args) => (TrainingArguments)Parser.Parse(args).Groups[2];

    [Fact]
    public void Hugging_face_spellings_bind_with_their_meanings()
    {
        var parsed = Parser.Parse([
            "--model_name_or_path", "m", "--bf16", "True", "--learning_rate", "3e-4", "--gradient_checkpointing",
            "--per_device_train_batch_size=2", "--evaluation_strategy", "no", "--lora_target_modules", "q_proj", "v_proj",
            "--save_total_limit", "10", "--report_to", "none", "--warmup-ratio", "0.01", "--max_steps", "-1"]);
        var training = (TrainingArguments)parsed.Groups[2];
        Assert.Equal("m", ((ModelArguments)parsed.Groups[0]).ModelNameOrPath);
        Assert.True(training.Bf16);
        Assert.Equal(3e-4, training.LearningRate);
        Assert.True(training.GradientCheckpointing);
        Assert.Equal(2, training.PerDeviceTrainBatchSize);
        Assert.Equal("no", training.EvalStrategy);
        Assert.Equal(10, training.SaveTotalLimit);
        Assert.Equal(0.01, training.WarmupRatio);
        Assert.Equal(-1, training.MaxSteps);
        Assert.Equal(["q_proj", "v_proj"], ((LoraArguments)parsed.Groups[3]).LoraTargetModules);
    }

    [Fact]
    public void Defaults_are_hugging_face_defaults()
    {
        var training = Training();
        Assert.Equal(5e-5, training.LearningRate);
        Assert.Equal(8, training.PerDeviceTrainBatchSize);
        Assert.Equal(3.0, training.NumTrainEpochs);
        Assert.Equal("linear", training.LrSchedulerType);
        Assert.Equal(0.999, training.AdamBeta2);
        Assert.Equal(1.0, training.MaxGradNorm);
        Assert.Equal(42, training.Seed);
        var lora = (LoraArguments)Parser.Parse([]).Groups[3];
        Assert.Equal((64, 16.0, 0.05, "none"), (lora.LoraR, lora.LoraAlpha, lora.LoraDropout, lora.LoraBias));
        Assert.Equal(7, lora.LoraTargetModules.Count);
    }

    [Theory]
    [InlineData("--bf16", "false", false)]
    [InlineData("--bf16", "TRUE", true)]
    [InlineData("--bf16", "1", true)]
    public void Booleans_accept_python_spellings(string flag, string value, bool expected) =>
        Assert.Equal(expected, Training(flag, value).Bf16);

    [Theory]
    [InlineData(new[] { "--learning_rte", "1" }, "unknown option --learning_rte (did you mean --learning_rate?)")]
    [InlineData(new[] { "--num_train_epoch", "1" }, "did you mean --num_train_epochs?")]
    [InlineData(new[] { "--learning_rate", "fast" }, "--learning_rate expects FLOAT, got 'fast'")]
    [InlineData(new[] { "--bf16", "maybe" }, "--bf16 expects True or False, got 'maybe'")]
    [InlineData(new[] { "--per_device_train_batch_size", "2.5" }, "--per_device_train_batch_size expects INT, got '2.5'")]
    [InlineData(new[] { "--lr_scheduler_type", "cosine_annealing" }, "--lr_scheduler_type 'cosine_annealing' is not one of")]
    [InlineData(new[] { "--learning_rate" }, "--learning_rate needs a value")]
    [InlineData(new[] { "--seed", "1", "2" }, "--seed takes one value, got 2")]
    [InlineData(new[] { "stray" }, "unexpected argument 'stray'")]
    [InlineData(new[] { "--lora_target_modules", "q_proj,attn" }, "'attn' is not one of")]
    public void Bad_flags_are_refused_with_a_readable_reason(string[] args, string expected)
    {
        var error = Assert.Throws<QwenTuneException>(() => Parser.Parse(args));
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void A_repeated_flag_takes_its_last_value_as_argparse_does() =>
        Assert.Equal(2e-4, Training("--learning_rate", "1e-4", "--learning_rate", "2e-4").LearningRate);

    [Fact]
    public void Help_lists_every_flag_grouped_like_hugging_face()
    {
        var help = Parser.Help("usage");
        var model = help.IndexOf("Model arguments:", StringComparison.Ordinal);
        var data = help.IndexOf("Data arguments:", StringComparison.Ordinal);
        var training = help.IndexOf("Training arguments:", StringComparison.Ordinal);
        var lora = help.IndexOf("LoRA arguments:", StringComparison.Ordinal);
        Assert.True(model >= 0 && model < data && data < training && training < lora);
        foreach (var name in Parser.OptionNames)
            Assert.Contains("--" + name + " ", help);
    }
}
