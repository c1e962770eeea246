using QwenTune.Checkpoints;
using QwenTune.Configuration;
using QwenTune.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Cli.Commands;

[OptionGroup("Init arguments")]
internal sealed record InitArguments
{
    [Option("config", "The config.json describing the architecture.")]
    public string? Config { get; init; }

    [Option("tokenizer", "A folder whose tokenizer files are copied into the new model folder.")]
    public string? Tokenizer { get; init; }

    [Option("output_dir", "Where the new model folder is written.")]
    public string? OutputDir { get; init; }

    [Option("seed", "Seed of the weight initialisation.")]
    public int Seed { get; init; } = 42;

    [Option("torch_dtype", "Storage dtype of the written weights.", Choices = ["float32", "bfloat16"])]
    public string TorchDtype { get; init; } = "bfloat16";
}

/// <summary>Writes a freshly initialised Hugging Face model folder (the embedded default model).</summary>
internal sealed class InitCommand : ICommand
{
    public string Name => "init";

    public string Summary => "Initialise a model folder from a config.json with seeded weights (the embedded default).";

    public Type[] ArgumentGroups => [typeof(InitArguments)];

    public int Run(ParsedArguments arguments)
    {
        var init = arguments.Get<InitArguments>();
        var configPath = init.Config ?? throw new UsageException("--config is required.");
        var output = init.OutputDir ?? throw new UsageException("--output_dir is required.");
        var config = QwenConfig.FromFile(configPath);
        if (init.Tokenizer is not null)
            Runtime.LoadedModel.CheckVocabulary(config, configPath, Text.QwenTokenizer.FromDirectory(init.Tokenizer));
        var dtype = init.TorchDtype == "bfloat16" ? ScalarType.BFloat16 : ScalarType.Float32;
        // Initialise in float32 so the draws do not depend on the storage dtype, then convert.
        var model = new QwenForCausalLM(config);
        model.InitializeWeights(init.Seed);
        model.to(dtype);
        PretrainedModel.Save(model, output, ShardSize.Default, init.Tokenizer);
        if (init.Tokenizer is not null && Path.GetFullPath(Path.GetDirectoryName(Path.GetFullPath(configPath))!) != Path.GetFullPath(init.Tokenizer))
            PretrainedModel.CopyCompanionFiles(Path.GetDirectoryName(Path.GetFullPath(configPath)), output, config);
        var parameters = model.parameters().Sum(p => p.numel());
        Console.Error.WriteLine($"qwentune init: wrote {output} ({parameters:N0} parameters, seed {init.Seed}, {init.TorchDtype})");
        return 0;
    }
}
