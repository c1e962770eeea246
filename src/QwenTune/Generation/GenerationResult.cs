namespace QwenTune.Generation;

/// <summary>
/// The sequences of one batch, in prompt order, and where the time went: the prefill (one forward over the padded
/// prompts) and the decode steps (one forward each, for the whole batch).
/// </summary>
public sealed record GenerationResult(IReadOnlyList<GeneratedSequence> Sequences, int PromptTokens, double PrefillSeconds, int DecodeSteps, double DecodeSeconds)
{
    public int GeneratedTokens => Sequences.Sum(s => s.Tokens.Count);
}
