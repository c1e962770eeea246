namespace QwenTune.Generation;

/// <summary>Why a sequence stopped, in the words OpenAI-style outputs use.</summary>
public enum FinishReason
{
    /// <summary>It produced an eos token (not included in its tokens).</summary>
    Stop,

    /// <summary>It reached max_new_tokens.</summary>
    Length,

    /// <summary>The caller cancelled (Ctrl-C in chat).</summary>
    Interrupted,
}
