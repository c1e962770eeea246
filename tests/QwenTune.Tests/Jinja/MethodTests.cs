using static QwenTune.Tests.Jinja.JinjaRender;

namespace QwenTune.Tests.Jinja;

/// <summary>Python str / dict / list methods called from templates; expectations from Python Jinja2.</summary>
public sealed class MethodTests
{
    [Theory]
    [InlineData("{{ 'a b  c'.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a b c'.split(' ', 1) }} {{ ' a b '.split(None, 1) }} {{ ''.split() }} {{ ''.split(',') }}",
        "['a', 'b', 'c'] ['a', 'b', '', 'c'] ['a', 'b c'] ['a', 'b '] [] ['']")]
    [InlineData("{{ 'a b c'.rsplit(' ', 1) }} {{ ' a b '.rsplit(None, 1) }} {{ 'a::b::c'.rsplit('::') }} {{ 'a b'.split(maxsplit=0) }}", "['a b', 'c'] [' a', 'b'] ['a', 'b', 'c'] ['a b']")]
    [InlineData("{{ 'x</think>\\n\\ny'.split('</think>')[-1].lstrip('\\n') }}", "y")]
    [InlineData("[{{ '  hi  '.strip() }}][{{ '  hi  '.lstrip() }}][{{ '  hi  '.rstrip() }}][{{ 'xxhixx'.strip('x') }}][{{ '\\n\\nhi\\n'.strip('\\n') }}][{{ 'abcba'.rstrip('ab') }}]",
        "[hi][hi  ][  hi][hi][hi][abc]")]
    [InlineData("{{ 'ab'.startswith('a') }} {{ 'ab'.startswith(('x', 'a')) }} {{ 'ab'.endswith('b') }} {{ 'ab'.endswith('a') }} {{ 'abc'.startswith('b', 1) }}", "True True True False True")]
    [InlineData("{{ 'a-b-c'.replace('-', '') }} {{ 'a-b-c'.replace('-', '+', 1) }} {{ 'Hi'.upper() }} {{ 'Hi'.lower() }} {{ \"they're bill's\".title() }} {{ 'hELLO'.capitalize() }}",
        "abc a+b-c HI hi They'Re Bill'S Hello")]
    [InlineData("{{ 'hello'.find('l') }} {{ 'hello'.rfind('l') }} {{ 'hello'.find('z') }} {{ 'hello'.index('e') }} {{ 'hello'.count('l') }} {{ 'a😀b'.find('b') }}", "2 3 -1 1 2 2")]
    [InlineData("{{ '-'.join(['a', 'b']) }} {{ '12'.isdigit() }} {{ 'ab'.isalpha() }} {{ ' '.isspace() }} {{ ''.isdigit() }} {{ 'a\\nb\\r\\nc'.splitlines() }}", "a-b True True True False ['a', 'b', 'c']")]
    [InlineData("{{ '{}-{x}'.format(1, x=2) }} {{ '{0}{1}{0}'.format('a', 'b') }} {{ '{:>4}|{:<3}|{:.2f}'.format('a', 'b', 3.14159) }} {{ 'pre_x'.removeprefix('pre_') }}", "1-2 aba    a|b  |3.14 x")]
    [InlineData("{{ d.get('a') }} {{ d.get('z') }} {{ d.get('z', 9) }} {{ d.keys()|list }} {{ d.values()|list }} {{ d.items()|list }}", "1 None 9 ['a', 'b'] [1, [1, 2]] [('a', 1), ('b', [1, 2])]")]
    [InlineData("{{ lst.index('y') }} {{ [1, 2, 1].count(1) }}", "1 2")]
    [InlineData("{{ 'héllo😀'[1] }} {{ 'a😀b'[1:] }} {{ 'a😀b'|length }} {{ 'a😀b'[::-1] }}", "é 😀b 3 b😀a")]
    public void Methods_match_Python(string template, string expected) =>
        Assert.Equal(expected, Render(template));
}
