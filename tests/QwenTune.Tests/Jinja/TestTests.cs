using static QwenTune.Tests.Jinja.JinjaRender;

namespace QwenTune.Tests.Jinja;

/// <summary>The <c>is</c> tests; expectations from Python Jinja2 (note: bool is a number but not an integer there).</summary>
public sealed class TestTests
{
    [Theory]
    [InlineData("{{ u is defined }} {{ u is undefined }} {{ d.a is defined }} {{ d.z is defined }} {{ n is defined }} {{ n is none }}", "False True True False True True")]
    [InlineData("{{ 1 is number }} {{ true is number }} {{ true is integer }} {{ 1 is integer }} {{ 1.0 is float }} {{ 1 is float }}", "True True False True True False")]
    [InlineData("{{ 'a' is string }} {{ 1 is string }} {{ d is mapping }} {{ lst is mapping }} {{ 'a' is sequence }} {{ d is sequence }} {{ 1 is sequence }}", "True False True False True True False")]
    [InlineData("{{ lst is iterable }} {{ 1 is iterable }} {{ u is iterable }} {{ none is none }} {{ 0 is none }}", "True False True True False")]
    [InlineData("{{ 1 is true }} {{ true is true }} {{ 0 is false }} {{ false is false }} {{ false is boolean }} {{ 0 is boolean }}", "False True False True True False")]
    [InlineData("{{ 3 is odd }} {{ 4 is even }} {{ 6 is divisibleby 3 }} {{ 7 is divisibleby(3) }} {{ 3.0 is odd }}", "True True True False True")]
    [InlineData("{{ 1 is eq 1 }} {{ 1 is equalto 2 }} {{ 1 is ne 2 }} {{ 1 is lt 2 }} {{ 2 is ge 2 }} {{ 'a' is in 'cat' }}", "True False True True True True")]
    [InlineData("{{ 'abc' is lower }} {{ 'aBc' is lower }} {{ 'ABC' is upper }} {{ '1' is lower }}", "True False True False")]
    [InlineData("{{ n is not none }} {{ u is not defined }} {{ not u is defined }}", "False True True")]
    [InlineData("{{ none is sameas none }} {{ true is sameas true }} {{ 1 is sameas true }}", "True True False")]
    public void Tests_match_Jinja2(string template, string expected) =>
        Assert.Equal(expected, Render(template));
}
