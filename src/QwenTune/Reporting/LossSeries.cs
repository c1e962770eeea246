using System.Globalization;
using System.Text.Json;
using System.Text.Json.Nodes;
using QwenTune.Training;

namespace QwenTune.Reporting;

/// <summary>
/// What the loss plot draws, read from trainer_state.json's log_history: training loss (raw and smoothed), evaluation
/// loss and learning rate, each against the global step.
/// </summary>
public sealed record LossSeries(
    IReadOnlyList<(int Step, double Value)> TrainLoss,
    IReadOnlyList<double> SmoothedTrainLoss,
    IReadOnlyList<(int Step, double Value)> EvalLoss,
    IReadOnlyList<(int Step, double Value)> LearningRate)
{
    /// <param name="source">The file the state came from, named in errors.</param>
    public static LossSeries From(TrainerState state, string source)
    {
        List<(int, double)> train = [], eval = [], rate = [];
        for (var i = 0; i < state.LogHistory.Count; i++)
        {
            var row = state.LogHistory[i];
            if (row is null)
                throw new QwenTuneException($"{source}: log_history[{i}] is null, not a log row.");
            var step = Number(row, "step", i, source);
            if (step is null)
                continue;
            if (Number(row, "loss", i, source) is { } loss)
                train.Add(((int)step, loss));
            if (Number(row, "eval_loss", i, source) is { } evalLoss)
                eval.Add(((int)step, evalLoss));
            if (Number(row, "learning_rate", i, source) is { } lr)
                rate.Add(((int)step, lr));
        }
        if (train.Count == 0 && eval.Count == 0)
            throw new QwenTuneException(
                $"{source}: log_history has no loss yet (a row is added every --logging_steps steps; trainer_state.json is written with each checkpoint and at the end).");
        return new LossSeries(train, Smooth(train.Select(t => t.Item2).ToList()), eval, rate);
    }

    /// <summary>
    /// LLaMA-Factory's smoothing for its training_loss.png (extras/ploting.py): an exponential moving average whose
    /// weight 1.8 (sigmoid(0.05 n) - 0.5) grows with the number of points n, from 0 for a few points towards 0.9.
    /// </summary>
    public static IReadOnlyList<double> Smooth(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
            return [];
        var weight = 1.8 * (1 / (1 + Math.Exp(-0.05 * values.Count)) - 0.5);
        var smoothed = new double[values.Count];
        var last = values[0];
        for (var i = 0; i < values.Count; i++)
            last = smoothed[i] = last * weight + (1 - weight) * values[i];
        return smoothed;
    }

    /// <summary>A row's number, null when absent or JSON null; anything else is an error naming the row and field.</summary>
    private static double? Number(JsonObject row, string field, int index, string source)
    {
        if (!row.TryGetPropertyValue(field, out var node) || node is null)
            return null;
        if (node is JsonValue value && value.GetValueKind() == JsonValueKind.Number
            && double.TryParse(value.ToJsonString(), NumberStyles.Float, CultureInfo.InvariantCulture, out var number)
            && double.IsFinite(number))
            return number;
        throw new QwenTuneException($"{source}: log_history[{index}].{field} is {node.ToJsonString()}, not a finite number.");
    }
}
