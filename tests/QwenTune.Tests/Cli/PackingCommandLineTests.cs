using QwenTune.Tests.Training;

namespace QwenTune.Tests.Cli;

public sealed class PackingCommandLineTests
{
    [Fact]
    public void Train_with_packing_packs_the_samples_and_trains_on_rows()
    {
        using var fixture = new TrainingFixture(samples: 12);
        var output = fixture.Output("packed");
        var (code, stdout, stderr) = CliProcess.Run("train", "--model_name_or_path", fixture.ModelDir, "--data_path", fixture.DataPath,
            "--output_dir", output, "--device", "cpu", "--packing", "True", "--model_max_length", "128", "--num_train_epochs", "1",
            "--per_device_train_batch_size", "1", "--gradient_accumulation_steps", "1", "--logging_steps", "1", "--save_strategy", "no");
        Assert.True(code == 0, stderr);
        var line = (stdout + stderr).Split('\n').Single(l => l.StartsWith("Packed 12 samples into ", StringComparison.Ordinal));
        var rows = int.Parse(line.Split(' ')[4], System.Globalization.CultureInfo.InvariantCulture);
        Assert.InRange(rows, 2, 11);
        // One row a step: an epoch has as many steps as rows, each logging a finite loss.
        var losses = TrainingRuns.LoggedLosses(output);
        Assert.Equal(Enumerable.Range(1, rows), losses.Select(l => l.Step));
        Assert.All(losses, l => Assert.True(double.IsFinite(l.Loss) && l.Loss > 0));
    }

    [Fact]
    public void Help_lists_packing_among_the_data_flags()
    {
        var (code, stdout, _) = CliProcess.Run("train", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--packing", stdout);
    }
}
