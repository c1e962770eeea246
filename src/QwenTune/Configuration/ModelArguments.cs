namespace QwenTune.Configuration;

[OptionGroup("Model arguments")]
public sealed record ModelArguments
{
    [Option("model_name_or_path", "A local Hugging Face model folder (config.json, *.safetensors, tokenizer.json). Nothing is downloaded.")]
    public string? ModelNameOrPath { get; init; }

    [Option("adapter_name_or_path", "A PEFT LoRA adapter folder to apply on top of the model (eval, merge, chat, generate).")]
    public string? AdapterNameOrPath { get; init; }

    [Option("device", "Where to compute: cpu or cuda (cuda needs the CUDA build of libtorch). Default: cuda when available, else cpu.",
        Choices = ["cpu", "cuda"])]
    public string? Device { get; init; }

    [Option("max_shard_size", "Largest safetensors shard written when saving a model, e.g. 5GB, 500MB, 2GiB.")]
    public string MaxShardSize { get; init; } = "5GB";
}
