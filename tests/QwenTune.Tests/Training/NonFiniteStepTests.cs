using System.Security.Cryptography;
using System.Text.Json.Nodes;
using QwenTune.Checkpoints;
using QwenTune.Tests.Cli;
using QwenTune.Training;

namespace QwenTune.Tests.Training;

/// <summary>
/// Steps whose loss and gradients are really NaN (the test host fills a weight with NaN for them): each is skipped with no
/// update and logged as such, the summary counts them, and --max_skipped_steps of them in a row stop the run.
/// </summary>
public sealed class NonFiniteStepTests
{
    private static string[] Host(TrainingFixture fixture, string output, int first, int count, params string[] extra) =>
    [
        "train-nan-steps", first.ToString(System.Globalization.CultureInfo.InvariantCulture), count.ToString(System.Globalization.CultureInfo.InvariantCulture),
        .. TrainingRuns.Common(fixture, output, ["--per_device_train_batch_size", "1", .. extra]),
    ];

    [Fact]
    public void Nan_steps_are_skipped_without_an_update_logged_and_counted()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("nan");
        var (code, stderr) = RunHost(Host(fixture, output, 3, 2, "--max_steps", "6", "--save_strategy", "steps", "--save_steps", "2"));
        Assert.True(code == 0, stderr);
        var rows = TrainerState.FromFile(Path.Combine(output, "trainer_state.json")).LogHistory.ToDictionary(r => (int)r["step"]!);
        foreach (var step in new[] { 3, 4 })
        {
            Assert.True((bool)rows[step]["skipped"]!);
            Assert.Null(rows[step]["loss"]);
        }
        foreach (var step in new[] { 1, 2, 5, 6 })
        {
            Assert.Null(rows[step]["skipped"]);
            Assert.True(double.IsFinite((double)rows[step]["loss"]!));
        }
        // No update in steps 3 and 4: the weights and the optimizer's step count after step 4 are those after step 2.
        Assert.Equal(Hash(Path.Combine(output, "checkpoint-2", "model.safetensors")), Hash(Path.Combine(output, "checkpoint-4", "model.safetensors")));
        Assert.Equal(StepCount(Path.Combine(output, "checkpoint-2")), StepCount(Path.Combine(output, "checkpoint-4")));
        Assert.Equal("2", StepCount(Path.Combine(output, "checkpoint-4")));
        Assert.NotEqual(Hash(Path.Combine(output, "checkpoint-4", "model.safetensors")), Hash(Path.Combine(output, "checkpoint-6", "model.safetensors")));
        var results = JsonNode.Parse(File.ReadAllText(Path.Combine(output, "train_results.json")))!;
        Assert.Equal(2, (int)results["skipped_steps"]!);
    }

    [Fact]
    public void Twenty_nan_steps_in_a_row_stop_the_run_naming_the_step_and_keeping_the_checkpoint()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("nan-run");
        var (code, stderr) = RunHost(Host(fixture, output, 2, 1000, "--max_steps", "40", "--save_strategy", "steps", "--save_steps", "10",
            "--save_total_limit", "1"));
        Assert.Equal(1, code);
        // Steps 2..21 are the 20 in a row (the default --max_skipped_steps).
        Assert.Contains("step 21:", stderr);
        Assert.Contains("steps 2 to 21 were all non-finite and skipped (20 in a row, --max_skipped_steps 20)", stderr);
        Assert.Contains($"{Path.Combine(output, "checkpoint-20")}, is kept", stderr);
        Assert.False(File.Exists(Path.Combine(output, "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(output, ".qwentune.lock")));
        // The checkpoint kept holds step 1's weights: skipped steps changed nothing.
        Assert.Equal("1", StepCount(Path.Combine(output, "checkpoint-20")));
    }

    [Fact]
    public void Max_skipped_steps_is_a_flag()
    {
        using var fixture = new TrainingFixture();
        var (code, stderr) = RunHost(Host(fixture, fixture.Output("three"), 4, 1000, "--max_steps", "40", "--max_skipped_steps", "3"));
        Assert.Equal(1, code);
        Assert.Contains("steps 4 to 6 were all non-finite and skipped (3 in a row, --max_skipped_steps 3)", stderr);
        Assert.Contains("No checkpoint had been saved yet", stderr);
    }

    private static (int Code, string Stderr) RunHost(string[] args)
    {
        using var process = new SignalProcess(CliProcess.TestHostStartInfo(args));
        var code = process.WaitForExit();
        return (code, process.Stderr);
    }

    private static string StepCount(string checkpoint)
    {
        using var reader = SafeTensorsReader.Open(Path.Combine(checkpoint, "optimizer.safetensors"));
        return reader.Metadata["step_count"];
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
