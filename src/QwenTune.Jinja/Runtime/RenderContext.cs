using System.Text;

namespace QwenTune.Jinja.Runtime;

/// <summary>State of one render: the output being written and where evaluation currently is (for error messages).</summary>
internal sealed class RenderContext(string templateName, DateTime now, TimeSpan maxRenderTime, int maxOutputLength)
{
    public const int MaxCallDepth = 200;

    /// <summary>Deepest chain of expressions evaluated inside one another (chat templates nest a few dozen).</summary>
    public const int MaxExpressionDepth = 10_000;

    /// <summary>Expressions being evaluated inside one another now (<see cref="Nodes.ExpressionDepth"/>).</summary>
    public int ExpressionDepth { get; set; }

    /// <summary>Wall-clock budget of one render; chat templates render in milliseconds, so more is a runaway loop.</summary>
    public static readonly TimeSpan MaxRenderTime = TimeSpan.FromSeconds(10);

    /// <summary>Output budget of one render, in characters (a chat template's output is one conversation).</summary>
    public const int MaxOutputLength = 100_000_000;

    private readonly long _started = System.Diagnostics.Stopwatch.GetTimestamp();

    public string TemplateName { get; } = templateName;

    /// <summary>The clock <c>strftime_now</c> reads; fixed per render so one render sees one time.</summary>
    public DateTime Now { get; } = now;

    public StringBuilder Output { get; set; } = new();

    /// <summary>The operation being evaluated, recorded just before it runs so a failure can point at it.</summary>
    public SourcePosition Position { get; set; }

    public int CallDepth { get; set; }

    /// <summary>Stops a render that has run past its time budget or written past its output budget.</summary>
    public void CheckBudget()
    {
        if (Output.Length > maxOutputLength)
            throw new JinjaError($"the template wrote more than {maxOutputLength:N0} characters (runaway loop?)");
        if (System.Diagnostics.Stopwatch.GetElapsedTime(_started) > maxRenderTime)
            throw new JinjaError($"rendering took more than {maxRenderTime.TotalSeconds:0.###} s (runaway loop?)");
    }
}
