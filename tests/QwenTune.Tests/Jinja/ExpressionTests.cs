using static QwenTune.Tests.Jinja.JinjaRender;

namespace QwenTune.Tests.Jinja;

/// <summary>Expressions and printing; every expected string was produced by Python Jinja2 on the same input.</summary>
public sealed class ExpressionTests
{
    [Theory]
    [InlineData("{{ 7 // 2 }}", "3")]
    [InlineData("{{ -7 // 2 }}", "-4")]
    [InlineData("{{ -7 % 3 }} {{ 7 % -3 }} {{ 7 % 3 }}", "2 -2 1")]
    [InlineData("{{ -7.5 // 2 }} {{ 7.0 // 2 }} {{ 7.5 % 2 }} {{ -7.5 % 2 }}", "-4.0 3.0 1.5 0.5")]
    [InlineData("{{ 7 / 2 }} {{ 4 / 2 }} {{ 1 / 3 }}", "3.5 2.0 0.3333333333333333")]
    [InlineData("{{ 2 ** 10 }} {{ 2 ** -1 }} {{ 2 ** 3 ** 2 }}", "1024 0.5 64")]
    [InlineData("{{ 1 + 2 * 3 - 4 }} {{ (1 + 2) * 3 }}", "3 9")]
    [InlineData("{{ True + 1 }} {{ 1 + 1.5 }} {{ 0.1 + 0.2 }}", "2 2.5 0.30000000000000004")]
    [InlineData("{{ 'ab' + 'cd' }} {{ 'ab' * 3 }} {{ 2 * 'x' }} {{ [1] + [2] }} {{ [0] * 2 }}", "abcd ababab xx [1, 2] [0, 0]")]
    [InlineData("{{ 'a' ~ 1 ~ none ~ true ~ u }}", "a1NoneTrue")]
    [InlineData("{{ -3 }} {{ +3 }} {{ -(2 + 3) }} {{ - 1.5 }}", "-3 3 -5 -1.5")]
    [InlineData("{{ 1e16 }} {{ 1e15 }} {{ 0.0001 }} {{ 0.00001 }} {{ 1.5e300 }} {{ 2.0 }}", "1e+16 1000000000000000.0 0.0001 1e-05 1.5e+300 2.0")]
    [InlineData("{{ 5.0 }} {{ 1e100 }} {{ -0.0 }} {{ 1.0e-7 }} {{ 123456789.123 }} {{ 1_000 }} {{ 0x1F }}", "5.0 1e+100 -0.0 1e-07 123456789.123 1000 31")]
    [InlineData("{{ none }} {{ None }} {{ true }} {{ False }}", "None None True False")]
    [InlineData("{{ [1, 'a', none, true, 1.5] }}", "[1, 'a', None, True, 1.5]")]
    [InlineData("{{ {'a': none, 'b': true, 'c': [1, {'d': 'e'}]} }}", "{'a': None, 'b': True, 'c': [1, {'d': 'e'}]}")]
    [InlineData("{{ (1,) }}{{ (1, 2) }}{{ () }}", "(1,)(1, 2)()")]
    [InlineData("{{ 1, 2 }}", "(1, 2)")]
    [InlineData("{{ \"it's\" }}{{ [\"it's\", 'a\"b', \"x\\ny\", 'é', '\\x01', 'tab\\there'] }}", "it's[\"it's\", 'a\"b', 'x\\ny', 'é', '\\x01', 'tab\\there']")]
    [InlineData("{{ \"a\\tb\\u00e9\\x41\\\\n\" }}", "a\tbéA\\n")]
    [InlineData("{{ 'a' 'b' \"c\" }}", "abc")]
    [InlineData("{{ 'don\\'t' }}", "don't")]
    [InlineData("{{ lst[0] }} {{ lst[-1] }} {{ lst[10] }}|{{ lst[-4] }}|", "x z ||")]
    [InlineData("{{ lst[::-1] }} {{ lst[1:] }} {{ lst[:-1] }} {{ lst[5:] }} {{ lst[::2] }} {{ lst[-2::-1] }}", "['z', 'y', 'x'] ['y', 'z'] ['x', 'y'] [] ['x', 'z'] ['y', 'x']")]
    [InlineData("{{ 'hello'[::2] }} {{ 'hello'[1:3] }} {{ 'hello'[-1] }} {{ 'hello'[::-1] }}", "hlo el o olleh")]
    [InlineData("{{ d.a }} {{ d['a'] }} {{ d.b[1] }} {{ d.b.0 }} {{ msgs[1].role }}", "1 1 2 1 assistant")]
    [InlineData("{{ 'a' in 'cat' }} {{ 'a' in d }} {{ 3 not in [1, 2] }} {{ 'z' in lst }} {{ 2 in d.b }}", "True True True True True")]
    [InlineData("{{ not 1 }} {{ not '' }} {{ not none }} {{ not [] }}", "False True True True")]
    [InlineData("{{ 0 or 'b' }} {{ 'a' and 'b' }} {{ '' and 'b' }}|{{ [] or none }} {{ 1 and 0 }}", "b b |None 0")]
    [InlineData("{{ 1 if true else 2 }} {{ 1 if false else 2 }} {{ 'x' if false }}|", "1 2 |")]
    [InlineData("{{ 'a' if 0 else 'b' if 1 else 'c' }}", "b")]
    [InlineData("{{ 1 == 1.0 }} {{ [1, 2] == [1, 2] }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ (1, 2) == [1, 2] }}", "True True True True False")]
    [InlineData("{{ 1 < 2 < 3 }} {{ 1 < 2 > 3 }} {{ 2 >= 2 }} {{ 1 != 1 }} {{ none == none }}", "True False True False True")]
    [InlineData("{{ true == 1 }} {{ 'a' == 'a' }} {{ {'a': 1} == {'a': 1} }}", "True True True")]
    [InlineData("{{ msgs|length - 1 }} {{ -(lst|length) }} {{ 2 * lst|length }}", "1 -3 6")]
    public void Expressions_render_as_in_Jinja2(string template, string expected) =>
        Assert.Equal(expected, Render(template));
}
