namespace QwenTune.Configuration;

[OptionGroup("LoRA arguments")]
public sealed record LoraArguments
{
    [Option("use_lora", "Train LoRA adapters instead of all weights.")]
    public bool UseLora { get; init; }

    [Option("q_lora", "With --use_lora: keep the base model in 4-bit NF4 (double quantised) - Q-LoRA. chat, generate: load the base in NF4 under a Q-LoRA adapter.")]
    public bool QLora { get; init; }

    [Option("lora_r", "LoRA rank.")]
    public int LoraR { get; init; } = 64;

    [Option("lora_alpha", "LoRA alpha; updates are scaled by alpha / r (alpha / sqrt(r) with --use_rslora).")]
    public double LoraAlpha { get; init; } = 16;

    [Option("lora_dropout", "Dropout on the LoRA input.")]
    public double LoraDropout { get; init; } = 0.05;

    [Option("lora_target_modules", "Projections that get adapters.",
        Choices = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"])]
    public IReadOnlyList<string> LoraTargetModules { get; init; } =
        ["q_proj", "k_proj", "v_proj", "o_proj", "up_proj", "gate_proj", "down_proj"];

    [Option("lora_weight_path", "Start from this PEFT adapter folder instead of fresh adapters.")]
    public string? LoraWeightPath { get; init; }

    [Option("lora_bias", "Which biases train: none, all, or lora_only (biases of adapted layers).",
        Choices = ["none", "all", "lora_only"])]
    public string LoraBias { get; init; } = "none";

    [Option("use_rslora", "Rank-stabilised LoRA: scale by alpha / sqrt(r).")]
    public bool UseRslora { get; init; }
}
