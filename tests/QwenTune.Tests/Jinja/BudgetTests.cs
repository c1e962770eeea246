using QwenTune.Jinja;

namespace QwenTune.Tests.Jinja;

/// <summary>Hostile templates stop with a TemplateException instead of running away, overflowing the stack or filling memory.</summary>
public sealed class BudgetTests
{
    private static readonly Dictionary<string, object?> NoVariables = [];

    [Fact]
    public void A_template_over_the_size_limit_is_refused_at_parse()
    {
        var error = Assert.Throws<TemplateSyntaxException>(() => Template.Parse(new string('x', Template.MaxSourceLength + 1)));
        Assert.Contains("limit", error.Message);
        Assert.Equal("x", Template.Parse("x").Render(NoVariables));
    }

    [Theory]
    [InlineData("+1", 140_000)]
    [InlineData("|string", 140_000)]
    public void A_long_operator_chain_is_a_runtime_error_not_a_stack_overflow(string link, int count)
    {
        var source = "{{ 1" + string.Concat(Enumerable.Repeat(link, count)) + " }}";
        var template = Template.Parse(source);
        var error = Assert.Throws<TemplateRuntimeException>(() => template.Render(NoVariables));
        Assert.Contains("too deeply", error.Message);
        // A short chain still evaluates: 1 + 1 * 20 = 21.
        Assert.Equal("21", Template.Parse("{{ 1" + string.Concat(Enumerable.Repeat("+1", 20)) + " }}").Render(NoVariables));
    }

    [Fact]
    public void A_runaway_loop_stops_at_the_time_budget()
    {
        var template = Template.Parse("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}");
        var error = Assert.Throws<TemplateRuntimeException>(() =>
            template.Render(NoVariables, DateTime.UnixEpoch, TimeSpan.FromMilliseconds(200), maxOutputLength: 1_000_000));
        Assert.Contains("rendering took more than 0.2 s", error.Message);
    }

    [Fact]
    public void Output_past_the_budget_stops_the_render()
    {
        var template = Template.Parse("{% for i in range(1000) %}{{ 'x' * 100 }}{% endfor %}");
        var error = Assert.Throws<TemplateRuntimeException>(() =>
            template.Render(NoVariables, DateTime.UnixEpoch, TimeSpan.FromSeconds(60), maxOutputLength: 10_000));
        Assert.Contains("wrote more than", error.Message);
        // Under the budget the same template renders all 100,000 characters.
        Assert.Equal(100_000, template.Render(NoVariables, DateTime.UnixEpoch, TimeSpan.FromSeconds(60), maxOutputLength: 200_000).Length);
    }
}
