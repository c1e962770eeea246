namespace QwenTune.Reporting;

/// <summary>
/// --report_to as HF reads it: a list of integrations, "all" for every one available, "none" for none. TensorBoard is
/// the one available here (event files, no service); the others are Python clients of web services and are refused
/// with the reason, as HF refuses an integration that is not installed.
/// </summary>
public static class ReportTargets
{
    private static readonly Dictionary<string, string> Refused = new(StringComparer.Ordinal)
    {
        ["wandb"] = "Weights & Biases logs through its Python client to its web service, which QwenTune does not have. " +
                    "Use --report_to tensorboard: `wandb sync --sync-tensorboard <logging_dir>` uploads those event files later",
        ["mlflow"] = "MLflow logs through its Python client to a tracking server",
        ["comet_ml"] = "Comet logs through its Python client to its web service",
        ["neptune"] = "Neptune logs through its Python client to its web service",
        ["clearml"] = "ClearML logs through its Python client to its server",
        ["azure_ml"] = "Azure ML logs through its Python SDK to Azure",
        ["dagshub"] = "DagsHub logs through MLflow's Python client to its web service",
        ["dvclive"] = "DVCLive is a Python library",
        ["codecarbon"] = "CodeCarbon is a Python library that samples the process's power draw",
        ["flyte"] = "Flyte decks are rendered by the Python flytekit",
        ["swanlab"] = "SwanLab logs through its Python client to its web service",
        ["trackio"] = "Trackio is a Python library",
    };

    /// <summary>Whether TensorBoard event files are asked for; throws for an integration that is refused or unknown.</summary>
    public static bool WantsTensorBoard(IReadOnlyList<string> reportTo)
    {
        var wanted = false;
        foreach (var target in reportTo)
        {
            if (target is "none" or "")
                continue;
            if (target is "tensorboard" or "all")
                wanted = true;
            else if (Refused.TryGetValue(target, out var reason))
                throw new QwenTuneException($"--report_to {target} is not supported here: {reason}.");
            else
                throw new QwenTuneException($"--report_to {target}: unknown integration; use tensorboard, all or none.");
        }
        return wanted;
    }
}
