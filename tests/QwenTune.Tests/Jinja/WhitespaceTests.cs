using static QwenTune.Tests.Jinja.JinjaRender;

namespace QwenTune.Tests.Jinja;

/// <summary>trim_blocks / lstrip_blocks (as Hugging Face sets them) and the -/+ whitespace controls; expectations from Python Jinja2.</summary>
public sealed class WhitespaceTests
{
    [Theory]
    // trim_blocks: the newline right after a block tag goes; after {{ }} it stays.
    [InlineData("{% if true %}\nyes\n{% endif %}\nend", "yes\nend")]
    [InlineData("{{ 'a' }}\nb", "a\nb")]
    // lstrip_blocks: indentation before a block tag goes, before {{ }} it stays.
    [InlineData("x\n    {% if true %}\n    y\n    {% endif %}\nz", "x\n    y\nz")]
    [InlineData("  {{ 'v' }}\n", "  v")]
    [InlineData("  {% if true %}a{% endif %}  b", "a  b")]
    // Text before the tag on the same line is kept, with its spaces.
    [InlineData("a  {% if true %}b{% endif %}", "a  b")]
    // Comments get both trims too.
    [InlineData("a\n  {# note #}\nb", "a\nb")]
    [InlineData("{# c #}x", "x")]
    // '-' strips all whitespace (newlines included) on its side.
    [InlineData("a  \n\n  {%- if true -%}  \n\n  b  \n  {%- endif %}", "ab")]
    [InlineData("a \n {{- 'b' -}} \n c", "abc")]
    [InlineData("a\n{#- c -#}\nb", "ab")]
    // '+' turns the trims off for its side.
    [InlineData("x\n  {%+ if true %}y{% endif %}", "x\n  y")]
    [InlineData("{% if true +%}\ny{% endif %}", "\ny")]
    // After a block tag has eaten its newline, the next line's indentation before a tag still counts as line start.
    [InlineData("{% if true %}\n  {% if true %}\n  in\n  {% endif %}\n{% endif %}", "  in\n")]
    // One trailing newline of the template is dropped (keep_trailing_newline=False), CRLF becomes LF.
    [InlineData("a\n", "a")]
    [InlineData("a\n\n", "a\n")]
    [InlineData("a\r\nb\rc", "a\nb\nc")]
    // Tabs count as indentation.
    [InlineData("\t{% if true %}t{% endif %}", "t")]
    // raw blocks are not interpreted.
    [InlineData("{% raw %}{{ x }}{% if %}{% endraw %}", "{{ x }}{% if %}")]
    [InlineData("{%- raw -%}  {{ y }}  {%- endraw %}", "{{ y }}")]
    public void Whitespace_control_matches_Jinja2_with_hf_settings(string template, string expected) =>
        Assert.Equal(expected, Render(template));
}
