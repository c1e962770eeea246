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
            log.WriteLine($"Skipped {records.SkippedRecords} invalid record(s) of {dataPath} (--skip_invalid_records), e.g. {records.SkippedProblems[0]}");
        var workers = training.DataloaderNumWorkers;
        ISftDataset train = data.LazyPreprocess
            ? new LazySftDataset(records.Samples, featurizer)
            : new EagerSftDataset(records.Samples, featurizer, workers);
        log.WriteLine($"{dataPath}: {records.Samples.Count} conversations{(data.LazyPreprocess ? " (tokenized lazily)" : workers > 1 ? $" (tokenized on {workers} threads)" : "")}.");
        if (data.LazyPreprocess && workers > 1)
            log.WriteLine($"--dataloader_num_workers {workers} tokenizes the evaluation data; with --lazy_preprocess the training data is tokenized as batches need it.");
        if (data.Packing)
        {
            var packed = new PackedSftDataset(train, data.ModelMaxLength);
            log.WriteLine($"Packed {packed.SampleCount} samples into {packed.Count} rows of up to {data.ModelMaxLength} tokens.");
            train = packed;
        }
        var eval = data.EvalDataPath is { } evalPath
            ? new EagerSftDataset(ChatDataReader.Read(evalPath, data.SkipInvalidRecords).Samples, featurizer, workers).Examples
            : null;
        return new DataSetup(train, eval);
    }
}
