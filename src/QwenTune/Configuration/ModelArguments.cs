namespace QwenTune.Configuration;

[OptionGroup("Model arguments")]
public sealed record ModelArguments
{
    [Option("model_name_or_path",
        "A local Hugging Face model folder (config.json, *.safetensors, tokenizer.json), or a Hub id such as Qwen/Qwen2.5-0.5B-Instruct, " +
        "found in or fetched into the Hugging Face cache (HF_HUB_CACHE, HF_HOME/hub, ~/.cache/huggingface/hub; HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE).")]
    public string? ModelNameOrPath { get; init; }

    [Option("model_revision", "The Hub revision of a Hub id: a branch, tag or commit hash.", Aliases = ["revision"])]
    public string ModelRevision { get; init; } = "main";

    [Option("cache_dir", "The Hugging Face cache folder for Hub ids (default: HF_HUB_CACHE, else HF_HOME/hub, else ~/.cache/huggingface/hub).")]
    public string? CacheDir { get; init; }

    [Option("adapter_name_or_path", "A PEFT LoRA adapter folder to apply on top of the model (eval, merge, chat, generate).")]
    public string? AdapterNameOrPath { get; init; }

    [Option("device", "Where to compute: auto, cpu or cuda (cuda needs the CUDA build of libtorch). auto (the default): cuda when available, else cpu.",
        Choices = ["auto", "cpu", "cuda"])]
    public string? Device { get; init; }

    [Option("max_shard_size", "Largest safetensors shard written when saving a model, e.g. 5GB, 500MB, 2GiB.")]
    public string MaxShardSize { get; init; } = "5GB";
}
