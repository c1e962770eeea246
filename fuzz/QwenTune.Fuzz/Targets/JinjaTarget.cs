using System.Text;
using System.Text.Json.Nodes;
using QwenTune.Jinja;

namespace QwenTune.Fuzz.Targets;

/// <summary>A Jinja template: lex, parse and render with a chat-template context (messages, tools, flags).</summary>
public sealed class JinjaTarget : IFuzzTarget
{
    private static readonly JsonNode Context = JsonNode.Parse("""
        {
          "messages": [
            {"role": "system", "content": "You are helpful."},
            {"role": "user", "content": "What is 2+2? <think>"},
            {"role": "assistant", "content": "", "reasoning_content": "add",
             "tool_calls": [{"type": "function", "function": {"name": "add", "arguments": {"a": 2, "b": 2}}}]},
            {"role": "tool", "content": "4"},
            {"role": "assistant", "content": "<think>\nsum\n</think>\n\n4"}
          ],
          "tools": [{"type": "function", "function": {"name": "add", "description": "Adds", "parameters": {"type": "object", "properties": {"a": {"type": "integer"}}}}}],
          "add_generation_prompt": true,
          "enable_thinking": false,
          "eos_token": "<|im_end|>",
          "bos_token": null
        }
        """)!;

    public string Name => "jinja";

    public string Description => "Template.Parse and Render (lexer, parser, evaluator) with a chat context";

    public string InputFileName => "template.jinja";

    public IReadOnlyList<string> Dictionary { get; } =
    [
        "{{", "}}", "{%", "%}", "{#", "#}", "{%-", "-%}", "{{-", "-}}", " for m in messages ", " endfor ", " if ", " elif ",
        " else ", " endif ", " set x = ", " macro f(a, b=1) ", " endmacro ", " call ", " endcall ", " raw ", " endraw ",
        " namespace(n=0) ", "loop.index", "loop.last", "|tojson", "|length", "|trim", "|join(',')", "|default('x')",
        "|map(attribute='role')|list", "|selectattr('role','equalto','user')", "|items", "|dictsort", "|string", "|int",
        " is defined ", " is not none ", " in ", " not ", " and ", " or ", "~", "+", "*", "/", "//", "%", "**", "(", ")",
        "[", "]", "[::-1]", "[1:]", ".split('x')", ".startswith('<')", ".strip()", ".items()", "raise_exception('e')",
        "range(10)", "range(1000000)", "'a' * 1000000", "messages", "tools", "message.content", "message['role']",
        "strftime_now('%Y')", " break ", " continue ", " filter upper ", " endfilter ", "\"", "'", "\\",
    ];

    public void Prepare(string workFolder) => Directory.CreateDirectory(workFolder);

    public void Execute(string inputPath, byte[] input)
    {
        var template = Template.Parse(Encoding.UTF8.GetString(input), "fuzz.jinja");
        var variables = new Dictionary<string, object?>(StringComparer.Ordinal);
        foreach (var (key, value) in Context.AsObject())
            variables[key] = value?.DeepClone();
        template.Render(variables);
    }
}
