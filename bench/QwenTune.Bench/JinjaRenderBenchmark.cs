using System.Diagnostics;
using System.Text.Json.Nodes;
using QwenTune.Jinja;

namespace QwenTune.Bench;

/// <summary>
/// Parse-once / render-many cost of the Qwen3 chat template on the fixture conversations
/// (multi_turn is 5 messages; tools adds a tool schema, a tool call and a tool reply).
/// Args: [iterations] (default 20000).
/// </summary>
internal sealed class JinjaRenderBenchmark : IBenchmark
{
    public string Name => "jinja-render";

    public string Description => "Qwen3 chat_template: parse time and per-render time on fixture conversations";

    public object Run(IReadOnlyList<string> args)
    {
        var iterations = args.Count > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 20_000;
        var fixtures = FindFixtures();
        var source = JsonNode.Parse(File.ReadAllText(Path.Combine(fixtures, "tokenizers", "qwen3", "tokenizer_config.json")))!["chat_template"]!.GetValue<string>();
        var conversations = JsonNode.Parse(File.ReadAllText(Path.Combine(fixtures, "chat-templates", "conversations.json")))!;

        var parse = Stopwatch.StartNew();
        var template = Template.Parse(source, "qwen3");
        parse.Stop();
        var warmParse = Stopwatch.StartNew();
        for (var i = 0; i < 100; i++)
            Template.Parse(source, "qwen3");
        warmParse.Stop();

        var tools = JinjaValue.FromJson(JsonNode.Parse(
            """[{"type":"function","function":{"name":"get_weather","description":"Get weather","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}}]"""));
        var results = new Dictionary<string, object>();
        foreach (var (name, withTools) in new[] { ("multi_turn", false), ("tools", true) })
        {
            var context = new Dictionary<string, object?>
            {
                ["messages"] = JinjaValue.FromJson(conversations[name]),
                ["add_generation_prompt"] = false,
                ["tools"] = withTools ? tools : null,
            };
            for (var i = 0; i < 2000; i++)
                template.Render(context);
            var samples = new double[10];
            for (var s = 0; s < samples.Length; s++)
            {
                var watch = Stopwatch.StartNew();
                for (var i = 0; i < iterations / samples.Length; i++)
                    template.Render(context);
                samples[s] = watch.Elapsed.TotalMicroseconds / (iterations / samples.Length);
            }
            Array.Sort(samples);
            results[name] = new
            {
                messages = ((List<object?>)context["messages"]!).Count,
                output_chars = template.Render(context).Length,
                render_us_median = Math.Round(samples[samples.Length / 2], 2),
                render_us_min = Math.Round(samples[0], 2),
            };
        }
        return new
        {
            first_parse_ms = Math.Round(parse.Elapsed.TotalMilliseconds, 3),
            warm_parse_ms = Math.Round(warmParse.Elapsed.TotalMilliseconds / 100, 3),
            iterations,
            results,
        };
    }

    private static string FindFixtures()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "QwenTune.slnx")))
                return Path.Combine(dir.FullName, "tests", "fixtures");
        }
        throw new InvalidOperationException("QwenTune.slnx not found above " + AppContext.BaseDirectory);
    }
}
