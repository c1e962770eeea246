using System.Text.Json;
using System.Text.Json.Nodes;
using QwenTune.Jinja;

namespace QwenTune.Tests.Jinja;

/// <summary>Caller data becomes Python-like values: ints stay ints, JSON numbers follow Python's json, key order is kept.</summary>
public sealed class JinjaValueTests
{
    private static string Render(string source, object? value) =>
        Template.Parse(source).Render(new Dictionary<string, object?> { ["v"] = value });

    [Fact]
    public void Json_numbers_keep_int_or_float_as_python_json_loads_does()
    {
        var value = JinjaValue.FromJson(JsonNode.Parse("""{"i": 3, "f": 3.0, "e": 1e2, "neg": -7, "big": 12345678901}"""));
        // Python: json.loads gives 3, 3.0, 100.0, -7, 12345678901; printed by str() and json.dumps.
        Assert.Equal("3 3.0 100.0 -7 12345678901 | {\"i\": 3, \"f\": 3.0, \"e\": 100.0, \"neg\": -7, \"big\": 12345678901}",
            Render("{{ v.i }} {{ v.f }} {{ v.e }} {{ v.neg }} {{ v.big }} | {{ v|tojson }}", value));
    }

    [Fact]
    public void Json_object_key_order_is_preserved()
    {
        var value = JinjaValue.FromJson(JsonNode.Parse("""{"z": 1, "a": {"y": null, "b": [true, "s"]}}"""));
        Assert.Equal("""{"z": 1, "a": {"y": null, "b": [true, "s"]}} z,a""", Render("{{ v|tojson }} {{ v|join(',') }}", value));
    }

    [Fact]
    public void Json_values_built_in_code_and_json_elements_convert_too()
    {
        var built = new JsonObject { ["n"] = 5, ["x"] = 2.5, ["s"] = "t", ["b"] = false };
        Assert.Equal("5 2.5 t False", Render("{{ v.n }} {{ v.x }} {{ v.s }} {{ v.b }}", built));
        var element = JsonDocument.Parse("""[1, 1.5, "a", null]""").RootElement;
        Assert.Equal("[1, 1.5, 'a', None]", Render("{{ v }}", element));
    }

    [Fact]
    public void Plain_dotnet_values_convert_to_python_types()
    {
        var value = new Dictionary<string, object?>
        {
            ["int"] = 7,
            ["float"] = 0.5f,
            ["decimal"] = 1.25m,
            ["array"] = new[] { "a", "b" },
            ["readonly"] = (IReadOnlyDictionary<string, object?>)new SortedDictionary<string, object?> { ["k"] = (byte)1 },
            ["char"] = 'c',
        };
        Assert.Equal("7 int 0.5 1.25 ['a', 'b'] {'k': 1} c", Render(
            "{{ v.int }} {{ 'int' if v.int is integer }} {{ v.float }} {{ v.decimal }} {{ v.array }} {{ v.readonly }} {{ v.char }}", value));
    }

    [Fact]
    public void Canonical_data_is_passed_through_without_copying()
    {
        var inner = new List<object?> { 1L, "a" };
        var dict = new Dictionary<string, object?> { ["l"] = inner, ["s"] = "x" };
        Assert.Same(dict, JinjaValue.From(dict));
        var withInt = new Dictionary<string, object?> { ["n"] = 1 };
        Assert.NotSame(withInt, JinjaValue.From(withInt));
        Assert.Equal(1L, ((Dictionary<string, object?>)JinjaValue.From(withInt)!)["n"]);
    }

    [Fact]
    public void Unsupported_type_is_reported_with_its_path()
    {
        var value = new Dictionary<string, object?> { ["messages"] = new List<object?> { new Dictionary<string, object?> { ["when"] = DateTime.UnixEpoch } } };
        var error = Assert.Throws<ArgumentException>(() => JinjaValue.From(value));
        Assert.Contains("value.messages[0].when", error.Message);
        Assert.Contains("System.DateTime", error.Message);
    }

    [Fact]
    public void Render_does_not_modify_the_callers_context()
    {
        var context = new Dictionary<string, object?> { ["x"] = "outer" };
        var text = Template.Parse("{% set x = 'inner' %}{{ x }}").Render(context);
        Assert.Equal("inner", text);
        Assert.Equal("outer", context["x"]);
    }
}
