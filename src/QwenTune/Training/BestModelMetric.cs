using System.Globalization;
using QwenTune.Configuration;

namespace QwenTune.Training;

/// <summary>
/// HF's metric_for_best_model and greater_is_better: which evaluation value makes a checkpoint the best (trainer_state's
/// best_metric, best_model_checkpoint, the checkpoint save_total_limit keeps and load_best_model_at_end writes).
/// </summary>
public sealed record BestModelMetric(string Key, bool GreaterIsBetter)
{
    /// <summary>What an evaluation reports here (no compute_metrics): the row keys that can rank checkpoints.</summary>
    private static readonly string[] Reported = ["eval_loss", "eval_perplexity"];

    /// <summary>
    /// The metric the arguments ask for, with HF's defaults: "loss", with an "eval_" prefix when missing; greater is
    /// better unless the name ends in "loss". Also checks HF's rules for load_best_model_at_end.
    /// </summary>
    public static BestModelMetric From(TrainingArguments args)
    {
        var name = args.MetricForBestModel ?? "loss";
        var key = name.StartsWith("eval_", StringComparison.Ordinal) ? name : "eval_" + name;
        if (!Reported.Contains(key))
            throw new QwenTuneException(
                $"--metric_for_best_model {name}: evaluation here reports {string.Join(" and ", Reported)} (there is no compute_metrics); use loss or perplexity.");
        if (args.LoadBestModelAtEnd)
            CheckStrategies(args);
        return new BestModelMetric(key, args.GreaterIsBetter ?? !name.EndsWith("loss", StringComparison.Ordinal));
    }

    public bool Improves(double value, double? best) => best is null || (GreaterIsBetter ? value > best : value < best);

    /// <summary>HF's TrainingArguments checks: the best checkpoint must be one that was saved at an evaluation.</summary>
    private static void CheckStrategies(TrainingArguments args)
    {
        if (args.EvalStrategy == "no")
            throw new QwenTuneException("--load_best_model_at_end needs evaluations to pick the best checkpoint: set --eval_strategy (steps or epoch) and --eval_data_path.");
        if (args.EvalStrategy != args.SaveStrategy)
            throw new QwenTuneException(
                $"--load_best_model_at_end requires the save and eval strategy to match, but found --eval_strategy {args.EvalStrategy} and --save_strategy {args.SaveStrategy}.");
        if (args.EvalStrategy != "steps")
            return;
        var evalSteps = (decimal)(args.EvalSteps ?? args.LoggingSteps);
        var saveSteps = (decimal)args.SaveSteps;
        if ((evalSteps < 1) != (saveSteps < 1))
            throw new QwenTuneException(
                $"--load_best_model_at_end requires --save_steps and --eval_steps both to be step counts or both fractions of the run, but found {Format(saveSteps)} and {Format(evalSteps)}.");
        if (evalSteps <= 0 || saveSteps % evalSteps != 0)
            throw new QwenTuneException(
                $"--load_best_model_at_end requires --save_steps to be a round multiple of --eval_steps, but found {Format(saveSteps)}, which is not a round multiple of {Format(evalSteps)}.");
    }

    private static string Format(decimal value) => value.ToString(CultureInfo.InvariantCulture);
}
