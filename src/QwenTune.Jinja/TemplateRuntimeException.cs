namespace QwenTune.Jinja;

/// <summary>
/// Rendering failed the way Python Jinja2 would fail (an undefined value used, a type error,
/// a value that cannot be serialised). The position is the operation that failed.
/// </summary>
public sealed class TemplateRuntimeException : TemplateException
{
    public TemplateRuntimeException(string templateName, SourcePosition position, string reason, Exception? inner = null)
        : base(templateName, position, reason, inner)
    {
    }
}
