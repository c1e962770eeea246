using static QwenTune.Tests.Jinja.JinjaRender;

namespace QwenTune.Tests.Jinja;

/// <summary>Filters; expectations from Python Jinja2 with Hugging Face's tojson (json.dumps, ensure_ascii=False).</summary>
public sealed class FilterTests
{
    [Theory]
    [InlineData("{{ d|tojson }} {{ s|tojson }} {{ lst|tojson }}", "{\"a\": 1, \"b\": [1, 2]} \"héllo wörld\" [\"x\", \"y\", \"z\"]")]
    [InlineData("{{ {'a': [1, {'b': 'é\"\\n'}]}|tojson(indent=2) }}", "{\n  \"a\": [\n    1,\n    {\n      \"b\": \"é\\\"\\n\"\n    }\n  ]\n}")]
    [InlineData("{{ [] | tojson(indent=2) }} {{ {} | tojson }} {{ [[]]|tojson(indent=1) }}", "[] {} [\n []\n]")]
    [InlineData("{{ 1.0|tojson }} {{ none|tojson }} {{ (1, 2)|tojson }} {{ true|tojson }} {{ 1e20|tojson }}", "1.0 null [1, 2] true 1e+20")]
    [InlineData("{{ 'ü→😀\\t\\x01\\\\'|tojson }}", "\"ü→😀\\t\\u0001\\\\\"")]
    [InlineData("{{ 'é😀'|tojson(ensure_ascii=true) }}", "\"\\u00e9\\ud83d\\ude00\"")]
    [InlineData("{{ {'b': 1, 'a': {'d': 2, 'c': 3}}|tojson(sort_keys=true) }}", "{\"a\": {\"c\": 3, \"d\": 2}, \"b\": 1}")]
    [InlineData("{{ {'a': [1, 2]}|tojson(separators=(',', ':')) }}", "{\"a\":[1,2]}")]
    [InlineData("{{ msgs[0]|tojson(indent='\\t') }}", "{\n\t\"role\": \"user\",\n\t\"content\": \"hi\"\n}")]
    [InlineData("{{ lst|length }} {{ d|length }} {{ 'héllo'|length }} {{ u|length }} {{ lst|count }}", "3 2 5 0 3")]
    [InlineData("{{ '  a b  '|trim }}|{{ 'xxhixx'|trim('x') }}|{{ u|trim }}|", "a b|hi||")]
    [InlineData("{{ 'abc'|upper }} {{ 'ABC'|lower }} {{ 'hELLO wORLD'|capitalize }} {{ none|upper }}", "ABC abc Hello world NONE")]
    [InlineData("{{ 'hello world'|title }} {{ \"they're-here (now)\"|title }}", "Hello World They're-Here (Now)")]
    [InlineData("{{ u|default('x') }} {{ none|default('x') }} {{ ''|default('x') }} {{ ''|default('x', true) }} {{ 0|d('z', boolean=true) }} {{ u|d }}|", "x None  x z |")]
    [InlineData("{{ [1, 2, 3]|join(', ') }} {{ lst|join }} {{ [1, none, u]|join('-') }} {{ msgs|join(',', attribute='role') }}", "1, 2, 3 xyz 1-None- user,assistant")]
    [InlineData("{{ [1, 2]|first }} {{ [1, 2]|last }} {{ 'abc'|first }} {{ 'abc'|last }} {{ d|first }} {{ []|first }}|", "1 2 a c a |")]
    [InlineData("{{ '3.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 3.9|int }} {{ -3.9|int }} {{ ' 42 '|int }} {{ true|int }} {{ 'ff'|int(base=16) }}", "3 0 7 3 -3 42 1 255")]
    [InlineData("{{ '12'|float }} {{ 'x'|float }} {{ 3|float }} {{ '1e3'|float }}", "12.0 0.0 3.0 1000.0")]
    [InlineData("{{ 5|string }} {{ 'ab'|list }} {{ d|list }} {{ d|items|list }} {{ u|items|list }}", "5 ['a', 'b'] ['a', 'b'] [('a', 1), ('b', [1, 2])] []")]
    [InlineData("{{ 'a-b-c'|replace('-', '+') }} {{ 'a-b-c'|replace('-', '+', 1) }} {{ 'ab'|replace('', '.') }}", "a+b+c a+b-c .a.b.")]
    [InlineData("{{ '<a href=\"x\">&'|e }} {{ 'x'|safe }}", "&lt;a href=&#34;x&#34;&gt;&amp; x")]
    [InlineData("{{ 2.5|round }} {{ 3.14159|round(2) }} {{ -2.5|round }} {{ 7|round }} {{ 2.1|round(0, 'ceil') }} {{ 2.9|round(method='floor') }}", "2.0 3.14 -2.0 7 3.0 2.0")]
    [InlineData("{{ 7|abs }} {{ -3.5|abs }} {{ -4|abs }}", "7 3.5 4")]
    [InlineData("{{ [3, 1, 2]|sort }} {{ ['b', 'A', 'c']|sort }} {{ ['b', 'A', 'c']|sort(case_sensitive=true) }} {{ [3, 1, 2]|sort(reverse=true) }}", "[1, 2, 3] ['A', 'b', 'c'] ['A', 'b', 'c'] [3, 2, 1]")]
    [InlineData("{{ msgs|sort(attribute='role', reverse=true)|map(attribute='role')|list }}", "['user', 'assistant']")]
    [InlineData("{{ [3, 1, 2]|reverse|list }} {{ 'abc'|reverse }} {{ [1, 2, 1, 'a', 'A']|unique|list }} {{ [1, 2, 3]|sum }} {{ [1, 5, 3]|max }} {{ [4, 2, 9]|min }}", "[2, 1, 3] cba [1, 2, 'a'] 6 5 2")]
    [InlineData("{{ msgs|map(attribute='role')|list }} {{ msgs|map(attribute='missing', default='-')|list }} {{ ['A', 'b']|map('lower')|list }} {{ [1.5, 2.5]|map('int')|list }}", "['user', 'assistant'] ['-', '-'] ['a', 'b'] [1, 2]")]
    [InlineData("{{ msgs|selectattr('role', 'equalto', 'user')|list }}", "[{'role': 'user', 'content': 'hi'}]")]
    [InlineData("{{ msgs|rejectattr('role', 'eq', 'user')|map(attribute='content')|join }} {{ [1, 2, 3, 4]|select('odd')|list }} {{ [0, 1, '', 'a']|select|list }} {{ [1, 2, 3]|reject('ge', 2)|list }}", "yo [1, 3] [1, 'a'] [1]")]
    [InlineData("{{ msgs|selectattr('role')|list|length }} {{ msgs|selectattr('role', 'in', ['user', 'x'])|list|length }}", "2 1")]
    [InlineData("{{ \"line1\\nline2\"|indent(2) }}|{{ \"line1\\nline2\"|indent(2, true) }}|{{ \"a\\n\\nb\"|indent }}|{{ \"a\\n\\nb\"|indent(1, blank=true) }}", "line1\n  line2|  line1\n  line2|a\n\n    b|a\n \n b")]
    [InlineData("{{ {'b': 1, 'A': 2}|dictsort }} {{ {'b': 1, 'a': 2}|dictsort(by='value') }} {{ 'a b, c'|wordcount }}", "[('A', 2), ('b', 1)] [('b', 1), ('a', 2)] 3")]
    [InlineData("{{ '%s-%d|%5.2f|%-3s|%03d'|format('x', 3, 3.14159, 'a', 7) }} {{ '%(a)s'|format(a=1) }}", "x-3| 3.14|a  |007 1")]
    public void Filters_match_Jinja2(string template, string expected) =>
        Assert.Equal(expected, Render(template));
}
