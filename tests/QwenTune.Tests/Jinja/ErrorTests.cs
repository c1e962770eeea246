using QwenTune.Jinja;
using static QwenTune.Tests.Jinja.JinjaRender;

namespace QwenTune.Tests.Jinja;

/// <summary>Syntax errors are found at parse time with their line:column; runtime errors carry Python's message and a position.</summary>
public sealed class ErrorTests
{
    [Theory]
    [InlineData("{{ 'a' < 1 }}", "'<' not supported between instances of 'str' and 'int'")]
    [InlineData("{{ 1 + 'a' }}", "unsupported operand type(s) for +: 'int' and 'str'")]
    [InlineData("{{ 'a' + 1 }}", "can only concatenate str (not \"int\") to str")]
    [InlineData("{{ lst + 'a' }}", "can only concatenate list (not \"str\") to list")]
    [InlineData("{{ 1 / 0 }}", "division by zero")]
    [InlineData("{{ 1 // 0 }}", "integer division or modulo by zero")]
    [InlineData("{{ d.a * 2.0 ** 10000 }}", "(34, 'Numerical result out of range')")]
    [InlineData("{{ -lst|length }}", "bad operand type for unary -: 'list'")]
    [InlineData("{{ 5|length }}", "object of type 'int' has no len()")]
    [InlineData("{% for x in 5 %}{% endfor %}", "'int' object is not iterable")]
    [InlineData("{% for a, b in [[1, 2, 3]] %}{% endfor %}", "too many values to unpack (expected 2)")]
    [InlineData("{{ 1 in 'abc' }}", "'in <string>' requires string as left operand, not int")]
    [InlineData("{{ 'a'.split('') }}", "empty separator")]
    [InlineData("{{ 5|items|list }}", "Can only get item pairs from a mapping.")]
    // Jinja compiles slices to plain Python subscription: slicing a non-sequence variable raises.
    [InlineData("{{ d.a[1:] }}", "'int' object is not subscriptable")]
    [InlineData("{{ d[:1] }}", "unhashable type: 'slice'")]
    [InlineData("{{ u[1:] }}", "'u' is undefined")]
    [InlineData("{{ (2)|indent }}", "unsupported operand type(s) for +=: 'int' and 'str'")]
    [InlineData("{{ '{} {0}'.format(1) }}", "cannot switch from manual field specification to automatic field numbering")]
    public void Runtime_errors_carry_Python_messages(string template, string expected)
    {
        var error = Assert.Throws<TemplateRuntimeException>(() => Render(template));
        Assert.Equal(expected, error.Reason);
    }

    [Fact]
    public void Raise_exception_throws_RaisedException_with_the_template_message_and_position()
    {
        var template = Template.Parse("line one\n{% if true %}\n  {{ raise_exception('boom: ' ~ 3) }}\n{% endif %}", "chat");
        var error = Assert.Throws<RaisedException>(() => template.Render(new Dictionary<string, object?>()));
        Assert.Equal("boom: 3", error.Reason);
        Assert.Equal(new SourcePosition(3, 6), error.Position);
        Assert.Equal("chat:3:6: boom: 3", error.Message);
    }

    [Fact]
    public void Pathological_nesting_is_a_syntax_error_not_a_stack_overflow()
    {
        var deep = new string('(', 5000) + "1" + new string(')', 5000);
        var error = Assert.Throws<TemplateSyntaxException>(() => Template.Parse("{{ " + deep + " }}"));
        Assert.Contains("nested more than", error.Reason);
        Assert.Throws<TemplateSyntaxException>(() => Template.Parse("{{ " + string.Concat(Enumerable.Repeat("not ", 5000)) + "1 }}"));
        Assert.Throws<TemplateSyntaxException>(() => Template.Parse(string.Concat(Enumerable.Repeat("{% if 1 %}", 5000))));
    }

    [Fact]
    public void A_namespace_holding_itself_prints_like_Python_instead_of_recursing()
    {
        // Python Jinja2: <Namespace {'me': <Namespace {...}>}>
        Assert.Equal("<Namespace {'me': <Namespace {...}>}>", Render("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}"));
    }

    [Fact]
    public void Runtime_error_points_at_the_failing_operation()
    {
        var template = Template.Parse("ok\n{{ 1 +\n 'a' }}", "t");
        var error = Assert.Throws<TemplateRuntimeException>(() => template.Render(new Dictionary<string, object?>()));
        Assert.Equal(new SourcePosition(2, 6), error.Position);
        Assert.StartsWith("t:2:6: unsupported operand", error.Message);
    }

    [Theory]
    [InlineData("a\n  {% bogus %}", 2, 6, "unknown tag 'bogus'")]
    [InlineData("{% include 'x' %}", 1, 4, "the 'include' tag is not supported")]
    [InlineData("x\n{% for m in ms %}\n{{ m }}", 2, 4, "unclosed 'for' block: expected 'endfor' or 'else'")]
    [InlineData("{% if a %}\n{% else %}\nb", 1, 4, "unclosed 'if' block: expected 'endif'")]
    [InlineData("{% if a %}{% endfor %}", 1, 14, "unexpected 'endfor': the innermost open block is 'if' (opened at 1:4)")]
    [InlineData("{% endif %}", 1, 4, "unexpected 'endif': no block is open")]
    [InlineData("{{ x | nosuch }}", 1, 8, "unknown filter 'nosuch'")]
    [InlineData("{{ x\n  | trim\n  | frobnicate(1) }}", 3, 5, "unknown filter 'frobnicate'")]
    [InlineData("{% if x is shiny %}{% endif %}", 1, 12, "unknown test 'shiny'")]
    [InlineData("{{ lipsum(3) }}", 1, 4, "unknown function 'lipsum'")]
    [InlineData("{{ x.frobnicate() }}", 1, 6, "unknown method 'frobnicate'")]
    [InlineData("{{ msgs|map('nosuch') }}", 1, 13, "unknown filter 'nosuch'")]
    [InlineData("{{ msgs|selectattr('role', 'nosuch') }}", 1, 28, "unknown test 'nosuch'")]
    [InlineData("{{ x|tojson(indnt=2) }}", 1, 6, "tojson() got an unexpected keyword argument 'indnt'")]
    [InlineData("{{ raise_exception() }}", 1, 4, "raise_exception() missing required argument 'message'")]
    [InlineData("{{ 'abc }}", 1, 4, "string literal is never closed")]
    [InlineData("{{ (1 }}", 1, 7, "unexpected '}', expected ')'")]
    [InlineData("{{ [1,\n 2", 1, 4, "this bracket is never closed")]
    [InlineData("{{ 1 ] }}", 1, 6, "unexpected ']'")]
    [InlineData("{{ a $ b }}", 1, 6, "unexpected character '$'")]
    [InlineData("{% for x in y %}{% endfor %}{% break %}", 1, 32, "'break' is only allowed inside a for loop")]
    [InlineData("{# open comment", 1, 1, "comment is never closed")]
    [InlineData("{{ x ", 1, 1, "tag is never closed")]
    [InlineData("{% set 1 = 2 %}", 1, 8, "can only assign to")]
    [InlineData("{{ }}", 1, 4, "expected an expression")]
    [InlineData("{% if x %}{% set y %}{% endif %}", 1, 25, "unexpected 'endif': the innermost open block is 'set' (opened at 1:14), which expects 'endset'")]
    public void Syntax_errors_fail_at_parse_time_with_position(string source, int line, int column, string reasonStart)
    {
        var error = Assert.Throws<TemplateSyntaxException>(() => Template.Parse(source, "tpl"));
        Assert.StartsWith(reasonStart, error.Reason);
        Assert.Equal(new SourcePosition(line, column), error.Position);
        Assert.StartsWith($"tpl:{line}:{column}: ", error.Message);
    }
}
