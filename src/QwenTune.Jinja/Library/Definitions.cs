using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Library;

internal sealed record FilterDefinition(string Name, Signature Signature, Func<RenderContext, object?, BoundArguments, object?> Invoke);

internal sealed record TestDefinition(string Name, Signature Signature, Func<object?, BoundArguments, bool> Invoke);

internal sealed record GlobalFunction(string Name, Signature Signature, Func<RenderContext, BoundArguments, object?> Invoke);
