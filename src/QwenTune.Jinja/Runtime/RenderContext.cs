using System.Text;

namespace QwenTune.Jinja.Runtime;

/// <summary>State of one render: the output being written and where evaluation currently is (for error messages).</summary>
internal sealed class RenderContext(string templateName, DateTime now)
{
    public const int MaxCallDepth = 200;

    public string TemplateName { get; } = templateName;

    /// <summary>The clock <c>strftime_now</c> reads; fixed per render so one render sees one time.</summary>
    public DateTime Now { get; } = now;

    public StringBuilder Output { get; set; } = new();

    /// <summary>The operation being evaluated, recorded just before it runs so a failure can point at it.</summary>
    public SourcePosition Position { get; set; }

    public int CallDepth { get; set; }
}
