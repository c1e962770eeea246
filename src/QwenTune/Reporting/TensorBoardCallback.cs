using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenTune.Training;

namespace QwenTune.Reporting;

/// <summary>
/// HF's TensorBoardCallback: at the start the arguments (and the model config) as text, then every log row as scalars
/// named as HF's rewrite_logs names them (eval_loss as eval/loss, loss as train/loss), at the row's global step, flushed
/// at once so a running `tensorboard --logdir` sees each row. Only rank 0 has callbacks, so only rank 0 writes.
/// </summary>
public sealed class TensorBoardCallback(string logDir, JsonObject arguments, string? modelConfigJson, TimeProvider? clock = null) : ITrainerCallback, IDisposable
{
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    private TensorBoardEventWriter? _writer;

    /// <summary>HF's default logging_dir: output_dir/runs/{datetime.now():%b%d_%H-%M-%S}_{hostname}, in local time.</summary>
    public static string DefaultLoggingDir(string outputDir, DateTime localNow, string host) =>
        Path.Combine(outputDir, "runs", localNow.ToString("MMMdd_HH-mm-ss", CultureInfo.InvariantCulture) + "_" + host);

    public string? EventFile => _writer?.FilePath;

    public void OnTrainBegin(TrainingPlan plan, int startStep)
    {
        _writer ??= new TensorBoardEventWriter(logDir, clock);
        _writer.AddText("args", arguments.ToJsonString(Indented), 0);
        if (modelConfigJson is not null)
            _writer.AddText("model_config", modelConfigJson, 0);
        _writer.Flush();
    }

    public void OnLog(JsonObject entry)
    {
        _writer ??= new TensorBoardEventWriter(logDir, clock);
        var step = entry["step"] is JsonValue s && long.TryParse(s.ToJsonString(), NumberStyles.Integer, CultureInfo.InvariantCulture, out var logged) ? logged : 0;
        foreach (var (key, value) in entry)
        {
            // HF's Trainer adds "step" to the log_history row, not to the logs its callbacks receive.
            if (key == "step" || value is not JsonValue scalar)
                continue;
            switch (scalar.GetValueKind())
            {
                case JsonValueKind.Number:
                    _writer.AddScalar(Tag(key), double.Parse(scalar.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture), step);
                    break;
                case JsonValueKind.True or JsonValueKind.False:
                    _writer.AddScalar(Tag(key), scalar.GetValue<bool>() ? 1 : 0, step);
                    break;
                case JsonValueKind.String:
                    _writer.AddText(Tag(key), scalar.GetValue<string>(), step);
                    break;
            }
        }
        _writer.Flush();
    }

    public void OnTrainEnd(TrainSummary summary) => Dispose();

    public void Dispose()
    {
        _writer?.Dispose();
        _writer = null;
    }

    /// <summary>HF's rewrite_logs: eval_x is eval/x, test_x is test/x, anything else train/x.</summary>
    public static string Tag(string key) =>
        key.StartsWith("eval_", StringComparison.Ordinal) ? "eval/" + key[5..]
        : key.StartsWith("test_", StringComparison.Ordinal) ? "test/" + key[5..]
        : "train/" + key;
}
