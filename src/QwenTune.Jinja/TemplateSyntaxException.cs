namespace QwenTune.Jinja;

/// <summary>The template source is not valid in the supported Jinja subset; raised by <see cref="Template.Parse"/>.</summary>
public sealed class TemplateSyntaxException : TemplateException
{
    public TemplateSyntaxException(string templateName, SourcePosition position, string reason)
        : base(templateName, position, reason)
    {
    }
}
