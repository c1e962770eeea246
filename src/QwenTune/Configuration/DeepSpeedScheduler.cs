namespace QwenTune.Configuration;

/// <summary>
/// A DeepSpeed scheduler block as written: WarmupLR or WarmupDecayLR with their params; a null value is absent
/// or "auto" and is filled from the training arguments when the schedule is built.
/// </summary>
public sealed record DeepSpeedScheduler(
    string Type, double? WarmupMinLr, double? WarmupMaxLr, int? WarmupNumSteps, string WarmupType, int? TotalNumSteps);
