using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Peft;

/// <summary>
/// Turns a model into a LoRA model as PEFT's get_peft_model does: adapters on the target projections, every
/// base weight frozen, and the biases that --lora_bias names left trainable (all: every bias; lora_only:
/// the biases of adapted layers). Adapters are initialised, and their dropout masks drawn, from the model's own
/// random generator (<see cref="QwenModel.RandomGenerator"/>), seeded by the run's seed.
/// </summary>
public static class LoraInjector
{
    public static IReadOnlyList<(string Name, QwenLinear Layer)> Apply(QwenForCausalLM model, LoraConfig config, long seed)
    {
        config.Validate();
        var generator = new Generator((ulong)seed, model.Device);
        model.Model.RandomGenerator = generator;
        var adapted = new List<(string, QwenLinear)>();
        foreach (var (name, module) in model.named_modules())
        {
            if (module is QwenLinear layer && config.TargetModules.Contains(LastSegment(name)))
            {
                layer.AddLora(config.R, config.Scaling, config.Dropout, generator);
                adapted.Add((name, layer));
            }
        }
        if (adapted.Count == 0)
            throw new QwenTuneException($"no layer matches --lora_target_modules {string.Join(",", config.TargetModules)}.");
        var adaptedNames = adapted.Select(a => a.Item1).ToHashSet();
        foreach (var (name, parameter) in model.named_parameters())
            parameter.requires_grad_(IsTrainable(name, config.Bias, adaptedNames));
        return adapted;
    }

    /// <summary>Whether a parameter trains in a LoRA model (and is saved with the adapter).</summary>
    public static bool IsTrainable(string name, string biasMode, IReadOnlySet<string> adaptedLayers)
    {
        if (name.Contains(".lora_A.", StringComparison.Ordinal) || name.Contains(".lora_B.", StringComparison.Ordinal))
            return true;
        if (!name.EndsWith(".bias", StringComparison.Ordinal))
            return false;
        return biasMode switch
        {
            "all" => true,
            "lora_only" => adaptedLayers.Contains(name[..^".bias".Length]),
            _ => false,
        };
    }

    /// <summary>PEFT's print_trainable_parameters line; NF4 weights count by their element count.</summary>
    public static string TrainableParametersLine(QwenForCausalLM model)
    {
        long trainable = 0, all = 0;
        foreach (var p in model.parameters())
        {
            all += p.numel();
            if (p.requires_grad)
                trainable += p.numel();
        }
        foreach (var (_, module) in model.named_modules())
        {
            if (module is QwenLinear { QuantizedWeight: { } q })
                all += q.NumElements;
        }
        var percent = all == 0 ? 0 : 100.0 * trainable / all;
        return $"trainable params: {trainable:N0} || all params: {all:N0} || trainable%: {percent:F4}";
    }

    private static string LastSegment(string name) => name[(name.LastIndexOf('.') + 1)..];
}
