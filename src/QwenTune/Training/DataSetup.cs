using QwenTune.Configuration;
using QwenTune.Data;
using QwenTune.Runtime;

namespace QwenTune.Training;

/// <summary>The training set (tokenized eagerly or lazily) and the evaluation examples, featurized with the model's template.</summary>
public sealed record DataSetup(ISftDataset Train, IReadOnlyList<SftExample>? Eval)
{
    public static DataSetup Load(DataArguments data, TrainingArguments training, LoadedModel loaded, TextWriter log)
    {
        var dataPath = data.DataPath ?? throw new QwenTuneException("--data_path is required.");
        if (training.EvalStrategy != "no" && data.EvalDataPath is null)
            throw new QwenTuneException($"--eval_strategy {training.EvalStrategy} needs --eval_data_path.");
        var featurizer = new SftFeaturizer(loaded.Tokenizer, loaded.Template, data.ModelMaxLength, data.TrainOnPrompt);
        var records = ChatDataReader.Read(dataPath, data.SkipInvalidRecords);
        if (records.SkippedProblems.Count > 0)
            log.WriteLine($"Skipped {records.SkippedProblems.Count} invalid record(s) of {dataPath} (--skip_invalid_records), e.g. {records.SkippedProblems[0]}");
        ISftDataset train = data.LazyPreprocess
            ? new LazySftDataset(records.Samples, featurizer)
            : new EagerSftDataset(records.Samples, featurizer);
        log.WriteLine($"{dataPath}: {records.Samples.Count} conversations{(data.LazyPreprocess ? " (tokenized lazily)" : "")}.");
        if (data.Packing)
        {
            var packed = new PackedSftDataset(train, data.ModelMaxLength);
            log.WriteLine($"Packed {packed.SampleCount} samples into {packed.Count} rows of up to {data.ModelMaxLength} tokens.");
            train = packed;
        }
        var eval = data.EvalDataPath is { } evalPath
            ? new EagerSftDataset(ChatDataReader.Read(evalPath, data.SkipInvalidRecords).Samples, featurizer).Examples
            : null;
        return new DataSetup(train, eval);
    }
}
