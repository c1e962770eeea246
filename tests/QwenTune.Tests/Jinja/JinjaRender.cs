using QwenTune.Jinja;

namespace QwenTune.Tests.Jinja;

/// <summary>
/// Shared helpers. <see cref="Standard"/> is the context the InlineData expectations were checked against
/// with Python Jinja2 3.1.6 under Hugging Face's environment (ImmutableSandboxedEnvironment, trim_blocks,
/// lstrip_blocks, loopcontrols, HF's tojson/raise_exception) — see reference/README.md beside this file.
/// </summary>
internal static class JinjaRender
{
    public static Dictionary<string, object?> Standard() => new()
    {
        ["d"] = new Dictionary<string, object?> { ["a"] = 1, ["b"] = new List<object?> { 1, 2 } },
        ["s"] = "héllo wörld",
        ["n"] = null,
        ["lst"] = new List<object?> { "x", "y", "z" },
        ["msgs"] = new List<object?>
        {
            new Dictionary<string, object?> { ["role"] = "user", ["content"] = "hi" },
            new Dictionary<string, object?> { ["role"] = "assistant", ["content"] = "yo" },
        },
    };

    public static string Render(string source) => Template.Parse(source).Render(Standard());

    public static string Render(string source, Dictionary<string, object?> context) => Template.Parse(source).Render(context);
}
