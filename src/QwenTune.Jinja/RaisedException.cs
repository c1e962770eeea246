namespace QwenTune.Jinja;

/// <summary>
/// The template itself called <c>raise_exception(message)</c>, as Hugging Face chat templates do to reject
/// conversations they cannot render (for example a system message that is not first).
/// <see cref="TemplateException.Reason"/> is exactly the template's message.
/// </summary>
public sealed class RaisedException : TemplateException
{
    public RaisedException(string templateName, SourcePosition position, string message)
        : base(templateName, position, message)
    {
    }
}
