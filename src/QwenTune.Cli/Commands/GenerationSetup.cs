using QwenTune.Configuration;
using QwenTune.Generation;
using QwenTune.Runtime;

namespace QwenTune.Cli.Commands;

/// <summary>
/// What chat and generate share: the model (<see cref="ModelLoading"/>), generation_config.json under the
/// sampling flags, the generator that stops at the model's eos ids, and a token selector seeded by --seed.
/// </summary>
internal sealed record GenerationSetup(LoadedModel Loaded, GenerationConfig Config, TextGenerator Generator, TokenSelector Selector)
{
    public static Type[] ArgumentGroups => [typeof(ModelArguments), typeof(GenerationArguments), typeof(LoraArguments), typeof(TrainingArguments)];

    public static readonly string[] Flags =
    [
        .. ModelLoading.Flags, "q_lora", "seed", "max_new_tokens", "min_new_tokens", "do_sample", "temperature", "top_k", "top_p", "min_p",
        "repetition_penalty", "enable_thinking",
    ];

    public static GenerationSetup From(ParsedArguments arguments)
    {
        var training = arguments.Get<TrainingArguments>();
        // Flags are checked before the weights load, so a typo in --top_p costs no waiting.
        var flags = arguments.Get<GenerationArguments>();
        var modelDirectory = arguments.Get<ModelArguments>().ModelNameOrPath;
        if (modelDirectory is not null && Directory.Exists(modelDirectory))
            GenerationConfig.FromDirectory(modelDirectory).With(flags);
        var loaded = ModelLoading.Load(arguments.Get<ModelArguments>(), training, quantizeBase: arguments.Get<LoraArguments>().QLora);
        var config = GenerationConfig.FromDirectory(loaded.Directory).With(flags);
        var generator = TextGenerator.For(loaded, config);
        return new GenerationSetup(loaded, config, generator, new TokenSelector(config, training.Seed, loaded.Model.Device));
    }
}
