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
    public static AdamWUpdater Create(QwenForCausalLM model, TrainingArguments training) =>
        new(ParameterGroups.Trainable(model), Options(training));

    /// <param name="zero">The job's ZeRO settings (stage 0 with DeepSpeed's defaults when null); unused for one process.</param>
    public static IParameterUpdater Create(QwenForCausalLM model, TrainingArguments training, ICollectives collectives, ZeroSettings? zero) =>
        collectives.WorldSize == 1
            ? Create(model, training)
            : new ZeroUpdater(model, Options(training), zero ?? ZeroSettings.None, collectives);

    private static AdamWOptions Options(TrainingArguments training) =>
        new(training.AdamBeta1, training.AdamBeta2, training.AdamEpsilon, training.WeightDecay, AdamWOptions.VariantFor(training.Optim));
}
