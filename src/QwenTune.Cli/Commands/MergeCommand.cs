using QwenTune.Checkpoints;
using QwenTune.Configuration;
using QwenTune.Models;
using QwenTune.Runtime;
using TorchSharp;

namespace QwenTune.Cli.Commands;

/// <summary>Bakes a LoRA adapter into its base model: W + scaling * B @ A, written as a Hugging Face model folder.</summary>
internal sealed class MergeCommand : ICommand
{
    public string Name => "merge";

    public string Summary => "Merge a LoRA adapter into its base model and write a Hugging Face model folder (--output_dir).";

    public Type[] ArgumentGroups => [typeof(ModelArguments), typeof(TrainingArguments)];

    public IReadOnlySet<string>? Flags { get; } = new HashSet<string>
    {
        "model_name_or_path", "model_revision", "cache_dir", "adapter_name_or_path", "device", "max_shard_size", "output_dir", "bf16", "torch_threads",
    };

    public int Run(ParsedArguments arguments)
    {
        var (model, training) = (arguments.Get<ModelArguments>(), arguments.Get<TrainingArguments>());
        var adapter = model.AdapterNameOrPath ?? throw new UsageException("--adapter_name_or_path is required.");
        // Given in any spelling (--output_dir, --output-dir, --output_dir=...): the parser reports canonical names.
        if (!arguments.Given.Contains("output_dir"))
            throw new UsageException("--output_dir is required: where the merged model is written.");
        var environment = ComputeEnvironment.Resolve(model.Device, training.Bf16, fp16: false, training.TorchThreads);
        Console.Error.WriteLine(environment.Describe());
        var loaded = LoadedModel.Load(model, environment, Console.Error, progress: ConsoleDownloadProgress.Create());
        if (Path.GetFullPath(training.OutputDir) == Path.GetFullPath(loaded.Directory))
            throw new QwenTuneException("--output_dir must differ from the base model folder: merging never overwrites the base.");
        loaded.ApplyAdapter(adapter);
        // Merge in float32 (unless --bf16), then store in the base model's own dtype, as PEFT's merge_and_unload keeps it.
        var merged = Merge(loaded.Model);
        merged.to(PretrainedModel.ParseDtype(merged.Config.TorchDtype, environment.Dtype));
        PretrainedModel.Save(merged, training.OutputDir, ShardSize.Parse(model.MaxShardSize), loaded.Directory);
        Console.Error.WriteLine($"qwentune merge: wrote {training.OutputDir} ({loaded.NameOrPath} + {adapter})");
        return 0;
    }

    private static QwenForCausalLM Merge(QwenForCausalLM model)
    {
        using var noGrad = TorchSharp.torch.no_grad();
        foreach (var (_, module) in model.named_modules())
        {
            if (module is QwenLinear { HasLora: true, Weight: { } weight } layer)
            {
                using var mergedWeight = layer.MergedWeight();
                weight.copy_(mergedWeight);
            }
        }
        return model;
    }
}
