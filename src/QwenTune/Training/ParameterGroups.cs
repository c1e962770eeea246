using System.Text.RegularExpressions;
using static TorchSharp.torch;
using TorchSharp.Modules;

namespace QwenTune.Training;

/// <summary>A trainable parameter with its Hugging Face name and whether weight decay applies to it.</summary>
public sealed record TrainableParameter(string Name, Parameter Parameter, bool Decay);

/// <summary>
/// Hugging Face Trainer's grouping: no weight decay on biases and normalisation weights (its
/// forbidden-name patterns), decay on everything else; frozen parameters are left out.
/// </summary>
public static partial class ParameterGroups
{
    [GeneratedRegex(@"bias|layernorm|rmsnorm|(?:^|\.)norm(?:$|\.)|_norm(?:$|\.)", RegexOptions.IgnoreCase)]
    private static partial Regex NoDecayPattern();

    public static IReadOnlyList<TrainableParameter> Trainable(nn.Module model) =>
        model.named_parameters()
            .Where(p => p.parameter.requires_grad)
            .Select(p => new TrainableParameter(p.name, p.parameter, !NoDecayPattern().IsMatch(p.name)))
            .ToList();
}
