using System.Text.Json;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace QwenTune.Training;

/// <summary>trainer_state.json, with Hugging Face's field names, so tools that read HF runs read ours.</summary>
public sealed class TrainerState
{
    [JsonPropertyName("global_step")] public int GlobalStep { get; set; }
    [JsonPropertyName("epoch")] public double Epoch { get; set; }
    [JsonPropertyName("max_steps")] public int MaxSteps { get; set; }
    [JsonPropertyName("num_train_epochs")] public double NumTrainEpochs { get; set; }
    [JsonPropertyName("logging_steps")] public double LoggingSteps { get; set; }
    [JsonPropertyName("eval_steps")] public double? EvalSteps { get; set; }
    [JsonPropertyName("save_steps")] public double SaveSteps { get; set; }
    [JsonPropertyName("train_batch_size")] public int TrainBatchSize { get; set; }
    [JsonPropertyName("best_metric")] public double? BestMetric { get; set; }
    [JsonPropertyName("best_global_step")] public int? BestGlobalStep { get; set; }
    [JsonPropertyName("best_model_checkpoint")] public string? BestModelCheckpoint { get; set; }
    [JsonPropertyName("total_flos")] public double TotalFlos { get; set; }
    [JsonPropertyName("num_input_tokens_seen")] public long NumInputTokensSeen { get; set; }
    [JsonPropertyName("is_local_process_zero")] public bool IsLocalProcessZero { get; set; } = true;
    [JsonPropertyName("is_world_process_zero")] public bool IsWorldProcessZero { get; set; } = true;
    [JsonPropertyName("log_history")] public List<JsonObject> LogHistory { get; set; } = [];

    private static readonly JsonSerializerOptions Options = new() { WriteIndented = true };

    public string ToJson() => JsonSerializer.Serialize(this, Options);

    public static TrainerState FromFile(string path)
    {
        try
        {
            return JsonSerializer.Deserialize<TrainerState>(File.ReadAllText(path), Options)
                ?? throw new QwenTuneException($"{path}: empty trainer state.");
        }
        catch (JsonException e)
        {
            throw new QwenTuneException($"{path}: unreadable trainer state ({e.Message}).");
        }
    }
}
