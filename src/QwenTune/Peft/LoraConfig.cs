namespace QwenTune.Peft;

/// <summary>
/// A LoRA adapter's shape and training choices, in PEFT's terms. Updates are scaled by alpha / r, or by
/// alpha / sqrt(r) with rank-stabilised LoRA.
/// </summary>
public sealed record LoraConfig
{
    public static readonly IReadOnlyList<string> AllProjections =
        ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"];

    public int R { get; init; } = 64;

    public double Alpha { get; init; } = 16;

    public double Dropout { get; init; } = 0.05;

    public IReadOnlyList<string> TargetModules { get; init; } = AllProjections;

    /// <summary>none, all, or lora_only (biases of adapted layers).</summary>
    public string Bias { get; init; } = "none";

    public bool UseRslora { get; init; }

    public double Scaling => UseRslora ? Alpha / Math.Sqrt(R) : Alpha / R;

    public void Validate()
    {
        if (R <= 0)
            throw new QwenTuneException($"--lora_r must be positive (got {R}).");
        if (Dropout is < 0 or >= 1)
            throw new QwenTuneException($"--lora_dropout must be in [0, 1) (got {Dropout}).");
        if (TargetModules.Count == 0)
            throw new QwenTuneException("--lora_target_modules names no module.");
        foreach (var name in TargetModules.Where(n => !AllProjections.Contains(n)))
            throw new QwenTuneException($"--lora_target_modules: '{name}' is not a Qwen projection ({string.Join(", ", AllProjections)}).");
        if (Bias is not ("none" or "all" or "lora_only"))
            throw new QwenTuneException($"--lora_bias '{Bias}' must be none, all or lora_only.");
    }
}
