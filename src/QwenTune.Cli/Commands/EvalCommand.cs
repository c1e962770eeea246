using System.Text.Json.Nodes;
using QwenTune.Configuration;
using QwenTune.Data;
using QwenTune.Training;

namespace QwenTune.Cli.Commands;

/// <summary>Scores a model (optionally with a LoRA adapter) on a ChatML file: eval_loss over all target tokens.</summary>
internal sealed class EvalCommand : ICommand
{
    public string Name => "eval";

    public string Summary => "Evaluate a model (+ adapter) on ChatML data: eval_loss, eval_tokens, eval_samples, perplexity as JSON.";

    public Type[] ArgumentGroups => [typeof(ModelArguments), typeof(DataArguments), typeof(TrainingArguments)];

    public IReadOnlySet<string>? Flags { get; } = new HashSet<string>(
    [
        .. ModelLoading.Flags, "data_path", "model_max_length", "train_on_prompt", "skip_invalid_records", "per_device_eval_batch_size",
    ]);

    public int Run(ParsedArguments arguments)
    {
        var (modelArgs, dataArgs, trainingArgs) = (arguments.Get<ModelArguments>(), arguments.Get<DataArguments>(), arguments.Get<TrainingArguments>());
        var dataPath = dataArgs.DataPath ?? throw new UsageException("--data_path is required.");
        var loaded = ModelLoading.Load(modelArgs, trainingArgs);
        if (loaded.Template.IsFallback)
            Console.Error.WriteLine(Text.ChatTemplate.FallbackNote(loaded.Directory));
        var samples = ChatDataReader.Read(dataPath, dataArgs.SkipInvalidRecords);
        var featurizer = new SftFeaturizer(loaded.Tokenizer, loaded.Template, dataArgs.ModelMaxLength, dataArgs.TrainOnPrompt);
        var dataset = new EagerSftDataset(samples.Samples, featurizer);
        var result = Evaluator.Evaluate(loaded.Model, dataset.Examples, trainingArgs.PerDeviceEvalBatchSize, loaded.PadTokenId);
        Console.Out.WriteLine(new JsonObject
        {
            ["eval_loss"] = result.EvalLoss,
            ["eval_tokens"] = result.EvalTokens,
            ["eval_samples"] = result.EvalSamples,
            ["perplexity"] = result.Perplexity,
            ["skipped_invalid_records"] = samples.SkippedRecords,
            ["dropped_without_targets"] = dataset.DroppedWithoutTargets,
        }.ToJsonString());
        return 0;
    }
}
