using static QwenTune.Tests.Jinja.JinjaRender;

namespace QwenTune.Tests.Jinja;

/// <summary>if / for / set / namespace / macro / break / continue; expectations from Python Jinja2.</summary>
public sealed class StatementTests
{
    [Theory]
    [InlineData("{% if 0 %}a{% elif '' %}b{% elif [1] %}c{% else %}d{% endif %}", "c")]
    [InlineData("{% if none %}a{% else %}b{% endif %}", "b")]
    [InlineData("{% if d.a == 1 and not d.z %}yes{% endif %}", "yes")]
    [InlineData("{% for x in lst %}{{ x }}{% endfor %}", "xyz")]
    [InlineData("{% for x in lst %}{{ loop.index0 }}{{ loop.index }}{{ loop.first }}{{ loop.last }}{{ loop.length }};{% endfor %}",
        "01TrueFalse3;12FalseFalse3;23FalseTrue3;")]
    [InlineData("{% for x in [1, 2, 3] %}{{ loop.previtem }}-{{ loop.nextitem }}-{{ loop.revindex }}-{{ loop.revindex0 }};{% endfor %}",
        "-2-3-2;1-3-2-1;2--1-0;")]
    [InlineData("{% for x in [1, 2, 3] if x > 1 %}{{ loop.index }}/{{ loop.length }} {% else %}E{% endfor %}", "1/2 2/2 ")]
    [InlineData("{% for x in [] %}a{% else %}E{% endfor %}", "E")]
    [InlineData("{% for x in 'ab' %}{{ x }}.{% endfor %}", "a.b.")]
    [InlineData("{% for k in d %}{{ k }}{% endfor %}", "ab")]
    [InlineData("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}", "a=1;b=[1, 2];")]
    [InlineData("{% for a, b in [[1, 2], (3, 4)] %}{{ a + b }},{% endfor %}", "3,7,")]
    [InlineData("{% for x in u %}never{% endfor %}ok", "ok")]
    [InlineData("{% for x in [1, 2] %}{% for y in 'ab' %}{{ loop.depth }}{{ x }}{{ y }}{% endfor %}{{ loop.depth }}|{% endfor %}", "11a11b1|12a12b1|")]
    [InlineData("{% for x in range(10) %}{% if x is odd %}{% continue %}{% endif %}{% if x > 6 %}{% break %}{% endif %}{{ x }}{% endfor %}", "0246")]
    [InlineData("{% for x in lst %}{{ loop.cycle('a', 'b') }}{% endfor %}", "aba")]
    [InlineData("{% for x in [1, 1, 2] %}{% if loop.changed(x) %}{{ x }}{% endif %}{% endfor %}", "12")]
    // Scoping: each iteration starts fresh; sets inside loops do not leak out; sets inside if do.
    [InlineData("{% set x = 1 %}{% for i in [1, 2] %}{{ x }}{% set x = 2 %}{{ x }}{% endfor %}{{ x }}", "12121")]
    [InlineData("{% for i in [1, 2] %}{% if i == 2 %}{{ x }}{% endif %}{% set x = i %}{% endfor %}{{ x }}|{{ i }}", "|")]
    [InlineData("{% set t = 'x' %}{% if true %}{% set t = 'y' %}{% endif %}{{ t }}", "y")]
    [InlineData("{% set a, b = 1, 2 %}{{ a }}{{ b }}", "12")]
    [InlineData("{% set v %}in {{ 'block' }}{% endset %}[{{ v }}]", "[in block]")]
    // namespace() carries state out of loops.
    [InlineData("{% set ns = namespace(a=1) %}{% for i in [1, 2] %}{% set ns.a = ns.a + i %}{% endfor %}{{ ns.a }}", "4")]
    [InlineData("{% set ns = namespace(found=false, last=none) %}{% for m in msgs %}{% if m.role == 'user' %}{% set ns.found = true %}{% set ns.last = loop.index0 %}{% endif %}{% endfor %}{{ ns.found }} {{ ns.last }}", "True 0")]
    [InlineData("{% set ns = namespace() %}{{ ns.q }}|{{ ns.q is defined }}", "|False")]
    [InlineData("{% set ns = namespace({'a': 1}, b=2) %}{{ ns.a }}{{ ns.b }}{{ ns['a'] }}", "121")]
    // Macros: defaults, keywords, scope seen at call time, recursion.
    [InlineData("{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Bo') }} {{ greet('Al', punct='?') }}", "Hi Bo! Hi Al?")]
    [InlineData("{% macro m() %}{{ y }}{% endmacro %}{% set y = 5 %}{{ m() }}", "5")]
    [InlineData("{% macro f(n) %}{% if n > 0 %}{{ n }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(3) }}", "321")]
    [InlineData("{% macro m(a) %}[{{ a }}]{% endmacro %}{{ m() }}", "[]")]
    [InlineData("{{ range(3)|list }} {{ range(1, 10, 3)|list }} {{ range(3, 0, -1)|list }} {{ range(0)|list }}", "[0, 1, 2] [1, 4, 7] [3, 2, 1] []")]
    // Hugging Face's globals are defined values, which Llama 3.x templates test before use.
    [InlineData("{{ strftime_now is defined }} {{ raise_exception is defined }} {{ range is callable }} {{ nosuch is defined }}", "True True True False")]
    [InlineData("{{ dict(a=1, b='x') }} {{ dict({'c': 2}, d=3) }}", "{'a': 1, 'b': 'x'} {'c': 2, 'd': 3}")]
    public void Statements_behave_as_in_Jinja2(string template, string expected) =>
        Assert.Equal(expected, Render(template));

    [Fact]
    public void Generation_tag_of_hf_AssistantTracker_renders_its_body() =>
        // transformers' AssistantTracker only records where the body's text lands; the text itself is unchanged.
        Assert.Equal("a\nb", Render("a\n{% generation %}\nb{% endgeneration %}"));

    [Fact]
    public void Strftime_now_formats_the_render_clock_like_Python_strftime()
    {
        var template = QwenTune.Jinja.Template.Parse("{{ strftime_now('%d %b %Y') }}|{{ strftime_now('%Y-%m-%d %H:%M:%S %A %B %-d %j %p %I') }}");
        var text = template.Render(new Dictionary<string, object?>(), new DateTime(2024, 3, 5, 14, 7, 9));
        // Python: datetime(2024, 3, 5, 14, 7, 9).strftime(...) for the same formats.
        Assert.Equal("05 Mar 2024|2024-03-05 14:07:09 Tuesday March 5 065 PM 02", text);
    }
}
