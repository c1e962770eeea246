using QwenTune.Configuration;
using QwenTune.Training;

namespace QwenTune.Tests.Training;

public sealed class BestModelMetricTests
{
    private static TrainingArguments Args(params string[] flags) => TrainingRequest.Parse(flags).Training;

    [Theory]
    [InlineData(null, null, "eval_loss", false)]
    [InlineData("loss", null, "eval_loss", false)]
    [InlineData("eval_loss", "True", "eval_loss", true)]
    [InlineData("perplexity", null, "eval_perplexity", true)]     // HF's rule: only a name ending in "loss" defaults to lower-is-better
    [InlineData("eval_perplexity", "False", "eval_perplexity", false)]
    public void Metric_and_direction_follow_hfs_defaults(string? metric, string? greater, string key, bool greaterIsBetter)
    {
        var flags = new List<string>();
        if (metric is not null)
            flags.AddRange(["--metric_for_best_model", metric]);
        if (greater is not null)
            flags.AddRange(["--greater_is_better", greater]);
        Assert.Equal(new BestModelMetric(key, greaterIsBetter), BestModelMetric.From(Args([.. flags])));
    }

    [Fact]
    public void Improves_compares_in_the_chosen_direction()
    {
        var lower = new BestModelMetric("eval_loss", GreaterIsBetter: false);
        Assert.True(lower.Improves(2.0, null));
        Assert.True(lower.Improves(1.5, 2.0));
        Assert.False(lower.Improves(2.0, 2.0));
        Assert.False(lower.Improves(2.5, 2.0));
        var higher = lower with { GreaterIsBetter = true };
        Assert.True(higher.Improves(2.5, 2.0));
        Assert.False(higher.Improves(1.5, 2.0));
    }

    [Theory]
    [InlineData(new[] { "--eval_strategy", "no" }, "needs evaluations to pick the best checkpoint")]
    [InlineData(new[] { "--eval_strategy", "steps", "--save_strategy", "epoch" }, "requires the save and eval strategy to match, but found --eval_strategy steps and --save_strategy epoch")]
    [InlineData(new[] { "--eval_strategy", "steps", "--eval_steps", "2", "--save_steps", "3" }, "--save_steps to be a round multiple of --eval_steps, but found 3, which is not a round multiple of 2")]
    [InlineData(new[] { "--eval_strategy", "steps", "--eval_steps", "0.1", "--save_steps", "5" }, "both to be step counts or both fractions")]
    [InlineData(new[] { "--eval_strategy", "steps", "--metric_for_best_model", "accuracy" }, "--metric_for_best_model accuracy: evaluation here reports eval_loss and eval_perplexity")]
    public void Load_best_model_at_end_refuses_what_hf_refuses(string[] flags, string message)
    {
        var error = Assert.Throws<QwenTuneException>(() => BestModelMetric.From(Args(["--load_best_model_at_end", .. flags])));
        Assert.Contains(message, error.Message);
    }

    [Theory]
    [InlineData("steps", "2", "4")]
    [InlineData("steps", "0.25", "0.5")]
    [InlineData("epoch", "1", "1")]
    public void Load_best_model_at_end_accepts_matching_strategies(string strategy, string evalSteps, string saveSteps)
    {
        var metric = BestModelMetric.From(Args("--load_best_model_at_end", "--eval_strategy", strategy, "--save_strategy", strategy,
            "--eval_steps", evalSteps, "--save_steps", saveSteps));
        Assert.Equal("eval_loss", metric.Key);
    }
}
