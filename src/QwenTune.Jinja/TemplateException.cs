namespace QwenTune.Jinja;

/// <summary>
/// Base of every error a template raises. <see cref="Exception.Message"/> reads
/// "name:line:column: reason" so a user can find the offending spot; <see cref="Reason"/> is the bare text.
/// </summary>
public abstract class TemplateException : Exception
{
    protected TemplateException(string templateName, SourcePosition position, string reason, Exception? inner = null)
        : base($"{templateName}:{position.Line}:{position.Column}: {reason}", inner)
    {
        TemplateName = templateName;
        Position = position;
        Reason = reason;
    }

    public string TemplateName { get; }

    public SourcePosition Position { get; }

    public int Line => Position.Line;

    public int Column => Position.Column;

    public string Reason { get; }
}
