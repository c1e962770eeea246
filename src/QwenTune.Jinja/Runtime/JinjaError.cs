namespace QwenTune.Jinja.Runtime;

/// <summary>
/// A failure inside the runtime helpers, which do not know where in the template they run;
/// <see cref="Template.Render(IReadOnlyDictionary{string, object?})"/> turns it into a
/// <see cref="TemplateRuntimeException"/> at the position of the operation being evaluated.
/// </summary>
internal sealed class JinjaError(string reason) : Exception(reason);
