namespace QwenTune.Generation;

/// <summary>One prompt's continuation: the new tokens (without the eos that ended it) and why it stopped.</summary>
public sealed record GeneratedSequence(IReadOnlyList<int> Tokens, FinishReason FinishReason);
