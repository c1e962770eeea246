using QwenTune.Configuration;
using QwenTune.Models;
using QwenTune.Runtime;

namespace QwenTune.Cli.Commands;

/// <summary>
/// The model that eval, chat and generate run: --model_name_or_path on --device, in float32 unless --bf16 True
/// (or --fp16 True on CUDA), its projections in NF4 when asked (a Q-LoRA base), and --adapter_name_or_path applied
/// unmerged on top.
/// </summary>
internal static class ModelLoading
{
    public static LoadedModel Load(ModelArguments model, TrainingArguments training, bool quantizeBase = false)
    {
        var environment = ComputeEnvironment.Resolve(model.Device, training.Bf16, training.Fp16, training.TorchThreads);
        Console.Error.WriteLine(environment.Describe());
        var loaded = LoadedModel.Load(model, environment, Console.Error, new QwenModelOptions { QuantizeLinears = quantizeBase },
            progress: ConsoleDownloadProgress.Create());
        if (model.AdapterNameOrPath is { } adapter)
            loaded.ApplyAdapter(adapter);
        return loaded;
    }

    /// <summary>Flags every command that loads a model this way takes.</summary>
    public static readonly string[] Flags =
        ["model_name_or_path", "model_revision", "cache_dir", "adapter_name_or_path", "device", "bf16", "fp16", "torch_threads"];
}
