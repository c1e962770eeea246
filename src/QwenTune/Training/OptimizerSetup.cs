using QwenTune.Configuration;
using QwenTune.Distributed;
using QwenTune.Models;

namespace QwenTune.Training;

/// <summary>AdamW over the model's trainable parameters with HF's decay groups, as --optim and the Adam flags ask.</summary>
public static class OptimizerSetup
{
    public static AdamWUpdater Create(QwenForCausalLM model, TrainingArguments training, ICollectives collectives)
    {
        var variant = AdamWOptions.VariantFor(training.Optim);
        var options = new AdamWOptions(training.AdamBeta1, training.AdamBeta2, training.AdamEpsilon, training.WeightDecay, variant);
        return new AdamWUpdater(ParameterGroups.Trainable(model), options, collectives);
    }
}
