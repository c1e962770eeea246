using QwenTune.Jinja.Lexing;
using QwenTune.Jinja.Nodes;
using QwenTune.Jinja.Parsing;
using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja;

/// <summary>
/// A parsed Jinja template, rendered as Python Jinja2 renders Hugging Face chat templates: an
/// ImmutableSandboxedEnvironment with <c>trim_blocks</c> and <c>lstrip_blocks</c>, the loop-control
/// extension, HF's <c>tojson</c>, <c>raise_exception</c> and <c>strftime_now</c>.
/// Parse once and render many times; a template is immutable and safe to render from several threads.
/// </summary>
public sealed class Template
{
    private readonly IReadOnlyList<Statement> _body;

    private Template(string name, IReadOnlyList<Statement> body)
    {
        Name = name;
        _body = body;
    }

    /// <summary>Longest template source <see cref="Parse"/> accepts, in characters.</summary>
    public const int MaxSourceLength = 1_000_000;

    /// <summary>The name used in error messages ("&lt;template&gt;" unless given).</summary>
    public string Name { get; }

    /// <exception cref="TemplateSyntaxException">The source uses syntax, a tag, filter, test, function or method this interpreter does not support.</exception>
    public static Template Parse(string source, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(source);
        var templateName = name ?? "<template>";
        if (source.Length > MaxSourceLength)
            throw new TemplateSyntaxException(templateName, new SourcePosition(1, 1),
                $"the template is {source.Length:N0} characters long; the limit is {MaxSourceLength:N0} (chat templates are a few thousand)");
        var tokens = Lexer.Tokenize(Lexer.NormalizeSource(source), templateName);
        return new Template(templateName, Parser.Parse(tokens, templateName));
    }

    /// <summary>
    /// Renders with the given variables: plain .NET data (dictionaries, lists, strings, numbers, bools, null)
    /// or <see cref="System.Text.Json.Nodes.JsonNode"/> trees; see <see cref="JinjaValue.From"/>.
    /// </summary>
    /// <exception cref="TemplateRuntimeException">Rendering failed as it would in Jinja2 (for example an undefined value used as an operand).</exception>
    /// <exception cref="RaisedException">The template called <c>raise_exception</c>.</exception>
    public string Render(IReadOnlyDictionary<string, object?> context) => Render(context, DateTime.Now);

    /// <summary>Renders with a fixed clock for <c>strftime_now</c>.</summary>
    internal string Render(IReadOnlyDictionary<string, object?> context, DateTime now) =>
        Render(context, now, RenderContext.MaxRenderTime, RenderContext.MaxOutputLength);

    /// <summary>Renders with a fixed clock and the given budgets (tests use small ones).</summary>
    internal string Render(IReadOnlyDictionary<string, object?> context, DateTime now, TimeSpan maxRenderTime, int maxOutputLength)
    {
        ArgumentNullException.ThrowIfNull(context);
        var variables = new Dictionary<string, object?>(context.Count, StringComparer.Ordinal);
        foreach (var (key, value) in context)
            variables[key] = JinjaValue.From(value, key);

        var renderContext = new RenderContext(Name, now, maxRenderTime, maxOutputLength);
        // Top-level {% set %} writes to its own scope so the caller's variables are never modified.
        var root = new Frame(renderContext, new Frame(renderContext, null, variables));
        try
        {
            Statement.ExecuteAll(_body, root);
        }
        catch (JinjaError error)
        {
            throw new TemplateRuntimeException(Name, renderContext.Position, error.Message, error);
        }
        catch (InsufficientExecutionStackException)
        {
            throw new TemplateRuntimeException(Name, renderContext.Position, "expressions are chained or nested too deeply to evaluate");
        }
        catch (Exception error) when (error is InvalidCastException or ArgumentException or IndexOutOfRangeException or InvalidOperationException)
        {
            throw new TemplateRuntimeException(Name, renderContext.Position, $"internal interpreter error: {error.Message}", error);
        }
        return renderContext.Output.ToString();
    }
}
