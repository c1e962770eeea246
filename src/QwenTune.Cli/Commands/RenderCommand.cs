using System.Text.Json.Nodes;
using QwenTune.Configuration;
using QwenTune.Data;
using QwenTune.Runtime;
using QwenTune.Text;

namespace QwenTune.Cli.Commands;

/// <summary>Shows exactly what training sees: one {"text", "input_ids", "labels"} line per sample.</summary>
internal sealed class RenderCommand : ICommand
{
    public string Name => "render";

    public string Summary => "Render ChatML data with the model's chat template: {text, input_ids, labels} per sample, as training sees it.";

    public Type[] ArgumentGroups => [typeof(ModelArguments), typeof(DataArguments)];

    public IReadOnlySet<string>? Flags { get; } = new HashSet<string>
    {
        "model_name_or_path", "model_revision", "cache_dir", "data_path", "model_max_length", "train_on_prompt", "skip_invalid_records", "add_generation_prompt",
    };

    public int Run(ParsedArguments arguments)
    {
        var (modelArgs, dataArgs) = (arguments.Get<ModelArguments>(), arguments.Get<DataArguments>());
        var dataPath = dataArgs.DataPath ?? throw new UsageException("--data_path is required.");
        var directory = TokenizerFolder(modelArgs);
        var tokenizer = QwenTokenizer.FromDirectory(directory);
        var template = ChatTemplate.For(tokenizer, Path.Combine(directory, "tokenizer_config.json"));
        if (template.IsFallback)
            Console.Error.WriteLine(ChatTemplate.FallbackNote(directory));
        var featurizer = new SftFeaturizer(tokenizer, template, dataArgs.ModelMaxLength, dataArgs.TrainOnPrompt);
        // With --add_generation_prompt the records are prompts: they need no assistant turn.
        var samples = ChatDataReader.Read(dataPath, dataArgs.SkipInvalidRecords, requireAssistant: !dataArgs.AddGenerationPrompt);
        using var output = new StreamWriter(Console.OpenStandardOutput());
        var dropped = 0;
        foreach (var sample in samples.Samples)
        {
            var text = tokenizer.Normalize(template.Render(sample.Messages, sample.Tools, dataArgs.AddGenerationPrompt));
            var example = dataArgs.AddGenerationPrompt ? featurizer.Tokenize(text, sample.Location) : featurizer.Label(text, sample.Location);
            if (example is null)
            {
                dropped++;
                continue;
            }
            output.WriteLine(new JsonObject
            {
                ["text"] = example.Text,
                ["input_ids"] = new JsonArray(example.InputIds.Select(i => (JsonNode?)i).ToArray()),
                ["labels"] = new JsonArray(example.Labels.Select(i => (JsonNode?)i).ToArray()),
            }.ToJsonString(JsonOutput.Options));
        }
        output.Flush();
        if (dropped > 0 || samples.SkippedRecords > 0)
            Console.Error.WriteLine($"qwentune render: {dropped} sample(s) without a target token after truncation, {samples.SkippedRecords} invalid record(s) skipped.");
        return 0;
    }

    /// <summary>The folder with the model's tokenizer files: a Hub id fetches those alone, not the weights.</summary>
    internal static string TokenizerFolder(ModelArguments model) =>
        ModelLocation.Resolve(model.ModelNameOrPath ?? throw new UsageException("--model_name_or_path is required."),
            model.ModelRevision, model.CacheDir, Console.Error, tokenizerOnly: true, progress: ConsoleDownloadProgress.Create());
}
