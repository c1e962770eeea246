namespace QwenTune;

/// <summary>
/// A problem the user can fix (bad input, a missing file, an unsupported option). The CLI prints its message
/// without a stack trace and exits non-zero; the message must say what was wrong, where, and what to do.
/// </summary>
public class QwenTuneException : Exception
{
    public QwenTuneException(string message) : base(message) { }

    public QwenTuneException(string message, Exception inner) : base(message, inner) { }
}
