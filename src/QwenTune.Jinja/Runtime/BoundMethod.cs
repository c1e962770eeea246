namespace QwenTune.Jinja.Runtime;

/// <summary>A method looked up on a value (<c>s.split</c>), called later with its arguments.</summary>
internal sealed record BoundMethod(object Receiver, string Name);
