using QwenTune.Configuration;
using QwenTune.Distributed;
using QwenTune.Models;

namespace QwenTune.Training;

/// <summary>
/// AdamW over the model's trainable parameters with HF's decay groups, as --optim and the Adam flags ask: one process
/// updates everything itself; several ranks share the work as the ZeRO stage says.
/// </summary>
public static class OptimizerSetup
{
    public static AdamWUpdater Create(QwenForCausalLM model, TrainingArguments training, ICollectives collectives) =>
        new(ParameterGroups.Trainable(model), Options(training), collectives);

    /// <param name="zero">The job's ZeRO settings; null for one process.</param>
    public static IParameterUpdater Create(QwenForCausalLM model, TrainingArguments training, ICollectives collectives, ZeroSettings? zero) =>
        zero is null || collectives.WorldSize == 1
            ? Create(model, training, collectives)
            : new ZeroUpdater(model, Options(training), zero, collectives);

    private static AdamWOptions Options(TrainingArguments training) =>
        new(training.AdamBeta1, training.AdamBeta2, training.AdamEpsilon, training.WeightDecay, AdamWOptions.VariantFor(training.Optim));
}
