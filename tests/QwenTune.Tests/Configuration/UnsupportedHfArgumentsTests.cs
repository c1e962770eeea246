using QwenTune.Configuration;

namespace QwenTune.Tests.Configuration;

public sealed class UnsupportedHfArgumentsTests
{
    [Theory]
    [InlineData("--fsdp", "full_shard", "HF's --fsdp is not supported here: FSDP is not implemented; --deepspeed configs/ds_config_zero3.json")]
    [InlineData("--push-to-hub", "True", "HF's --push_to_hub is not supported here: uploading to the Hub is not implemented")]
    [InlineData("--torch_compile", null, "HF's --torch_compile is not supported here: torch.compile and TorchDynamo are Python features")]
    [InlineData("--use_cpu=True", null, "HF's --use_cpu is not supported here: use --device cpu.")]
    public void An_hf_training_argument_not_taken_here_says_why(string flag, string? value, string message)
    {
        var parser = new HfArgumentParser(TrainingRequest.Groups);
        string[] args = value is null ? [flag] : [flag, value];
        var error = Assert.Throws<QwenTuneException>(() => parser.Parse(args));
        Assert.StartsWith(message, error.Message);
    }

    [Fact]
    public void A_name_that_is_not_hfs_is_still_unknown_with_a_suggestion()
    {
        var error = Assert.Throws<QwenTuneException>(() => new HfArgumentParser(TrainingRequest.Groups).Parse(["--logging_first_stpe"]));
        Assert.Contains("unknown option --logging_first_stpe (did you mean --logging_first_step?)", error.Message);
    }

    /// <summary>An entry for a flag that some command takes would hide nothing but would be stale: none may overlap.</summary>
    [Fact]
    public void No_refused_name_is_a_flag_of_any_command()
    {
        var declared = HfArgumentParser.DeclaredOptions(TrainingRequest.Groups).ToHashSet();
        Assert.DoesNotContain(UnsupportedHfArguments.Reasons.Keys, declared.Contains);
        Assert.All(UnsupportedHfArguments.Reasons, r => Assert.False(string.IsNullOrWhiteSpace(r.Value), r.Key));
    }

    [Fact]
    public void The_hf_flags_taken_here_parse_with_hf_spellings()
    {
        var parsed = TrainingRequest.Parse([
            "--logging_dir", "tb", "--logging_first_step", "--run_name", "r1", "--disable_tqdm", "True", "--save_only_model", "True",
            "--load_best_model_at_end", "--metric_for_best_model", "eval_perplexity", "--greater_is_better", "False",
            "--dataloader_num_workers", "4", "--tf32", "True", "--local_rank", "0", "--report_to", "tensorboard"]).Training;
        Assert.Equal(("tb", true, "r1", true, true), (parsed.LoggingDir, parsed.LoggingFirstStep, parsed.RunName, parsed.DisableTqdm, parsed.SaveOnlyModel));
        Assert.Equal((true, "eval_perplexity", (bool?)false), (parsed.LoadBestModelAtEnd, parsed.MetricForBestModel, parsed.GreaterIsBetter));
        Assert.Equal((4, (bool?)true, 0), (parsed.DataloaderNumWorkers, parsed.Tf32, parsed.LocalRank));
        Assert.Equal(["tensorboard"], parsed.ReportTo);
    }
}
