namespace QwenTune.Jinja.Runtime;

/// <summary>The object <c>namespace(...)</c> returns: the one value a <c>{% set ns.attr = ... %}</c> may change.</summary>
internal sealed class Namespace
{
    public Namespace(Dictionary<string, object?> attributes) => Attributes = attributes;

    public Dictionary<string, object?> Attributes { get; }
}
