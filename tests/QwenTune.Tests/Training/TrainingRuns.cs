using QwenTune.Checkpoints;
using QwenTune.Configuration;
using QwenTune.Training;
using static TorchSharp.torch;

namespace QwenTune.Tests.Training;

/// <summary>Runs training in-process from command-line style arguments and reads back what it wrote.</summary>
internal static class TrainingRuns
{
    public static TrainSummary Train(params string[] args)
    {
        return TrainingSession.Run(TrainingRequest.Parse(args), [], TextWriter.Null);
    }

    /// <summary>The arguments every test run shares: float32, no shuffling by length, fixed seed, no checkpoints.</summary>
    public static string[] Common(TrainingFixture fixture, string outputDir, params string[] extra) =>
    [
        "--model_name_or_path", fixture.ModelDir, "--data_path", fixture.DataPath, "--output_dir", outputDir,
        "--learning_rate", "1e-2", "--lr_scheduler_type", "constant", "--seed", "7", "--group_by_length", "False",
        "--logging_steps", "1", "--save_strategy", "no", "--device", "cpu", .. extra,
    ];

    public static Dictionary<string, Tensor> Weights(string folder, string file = "model.safetensors")
    {
        using var reader = SafeTensorsReader.Open(Path.Combine(folder, file));
        return reader.ReadAll().ToDictionary(t => t.Name, t => t.Tensor);
    }

    /// <summary>(step, loss, grad_norm) rows of trainer_state.json's log_history.</summary>
    public static List<(int Step, double Loss, double GradNorm)> LoggedRows(string folder) =>
        TrainerState.FromFile(Path.Combine(folder, "trainer_state.json")).LogHistory
            .Where(e => e["loss"] is not null)
            .Select(e => ((int)e["step"]!, (double)e["loss"]!, (double)e["grad_norm"]!))
            .ToList();

    /// <summary>(step, loss) rows of trainer_state.json's log_history.</summary>
    public static List<(int Step, double Loss)> LoggedLosses(string folder) =>
        TrainerState.FromFile(Path.Combine(folder, "trainer_state.json")).LogHistory
            .Where(e => e["loss"] is not null)
            .Select(e => ((int)e["step"]!, (double)e["loss"]!))
            .ToList();
}
