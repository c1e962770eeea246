namespace QwenTune.Planning;

/// <summary>What a run trains: every weight, LoRA adapters on a dense base, or LoRA adapters on an NF4 base.</summary>
public enum TuningMode
{
    Full,
    Lora,
    QLora,
}
