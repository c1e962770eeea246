using QwenTune.Jinja;
using static QwenTune.Tests.Jinja.JinjaRender;

namespace QwenTune.Tests.Jinja;

/// <summary>
/// Jinja2's default Undefined: harmless when printed, tested, iterated or defaulted; an error when used as
/// an operand, indexed, or asked for an attribute. Outputs and messages are Python Jinja2's.
/// </summary>
public sealed class UndefinedTests
{
    [Theory]
    [InlineData("[{{ u }}][{{ d.zz }}][{{ msgs[5] }}][{{ none.x }}][{{ 5.x }}]", "[][][][][]")]
    [InlineData("{% if u %}a{% else %}b{% endif %}{% if not d.z %}c{% endif %}", "bc")]
    [InlineData("{{ u is defined }} {{ u == u }} {{ u != 1 }} {{ 'a' in u }} {{ u in [1] }} {{ u|length }} {{ u|list }}", "False True True False False 0 []")]
    [InlineData("{{ u ~ 'a' }} {{ u|string }}|{{ u|upper }}|{{ u|first }}|{{ u|join }}|{{ u|default('D') }}", "a ||||D")]
    [InlineData("{% for x in u %}x{% else %}empty{% endfor %}", "empty")]
    [InlineData("{{ u|sum }} {{ u|min }}|{{ u|wordcount }} {{ u|e }}|{{ u is callable }} {{ u|items|list }} {{ u|sort }}", "0 |0 |True [] []")]
    [InlineData("{{ msgs[0].reasoning_content is defined and msgs[0].reasoning_content is not none }}", "False")]
    public void Undefined_is_harmless_where_Jinja2_allows_it(string template, string expected) =>
        Assert.Equal(expected, Render(template));

    [Theory]
    [InlineData("{{ u.x }}", "'u' is undefined")]
    [InlineData("{{ d.zz.x }}", "'dict object' has no attribute 'zz'")]
    [InlineData("{{ u.startswith('a') }}", "'u' is undefined")]
    [InlineData("{{ u + 'a' }}", "'u' is undefined")]
    [InlineData("{{ u[0] }}", "'u' is undefined")]
    [InlineData("{{ -u }}", "'u' is undefined")]
    [InlineData("{{ u < 1 }}", "'u' is undefined")]
    [InlineData("{{ u|tojson }}", "Object of type Undefined is not JSON serializable")]
    [InlineData("{{ [1, d.zz]|tojson }}", "Object of type Undefined is not JSON serializable")]
    [InlineData("{{ u|int }}", "'u' is undefined")]
    [InlineData("{{ u|float }}", "'u' is undefined")]
    [InlineData("{{ u|abs }}", "bad operand type for abs(): 'Undefined'")]
    public void Undefined_used_as_a_value_fails_like_Jinja2(string template, string expected)
    {
        var error = Assert.Throws<TemplateRuntimeException>(() => Render(template));
        Assert.Equal(expected, error.Reason);
    }
}
