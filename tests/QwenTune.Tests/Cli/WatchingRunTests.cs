using QwenTune.Cli;
using QwenTune.Tests.Reporting;
using QwenTune.Tests.Training;

namespace QwenTune.Tests.Cli;

/// <summary>`qwentune train` draws training_loss.png at the end; `qwentune plot` draws it again from trainer_state.json.</summary>
public sealed class WatchingRunTests
{
    [Fact]
    public void Train_draws_the_loss_plot_and_plot_redraws_it_or_says_what_is_wrong()
    {
        using var fixture = new TrainingFixture(samples: 4);
        var output = fixture.Output("run");
        var (code, _, stderr) = CliProcess.Run(["train", .. TrainingRuns.Common(fixture, output), "--max_steps", "2",
            "--eval_data_path", fixture.DataPath, "--eval_strategy", "steps", "--eval_steps", "1", "--run_name", "watch"], null, null);
        Assert.True(code == 0, stderr);
        var png = Path.Combine(output, "training_loss.png");
        Assert.Contains($"Loss plot: {png}", stderr);
        var drawn = PngDecoder.Decode(File.ReadAllBytes(png));
        Assert.Equal((1000, 800), (drawn.Width, drawn.Height));

        File.Delete(png);
        (code, _, stderr) = CliProcess.Run("plot", output);
        Assert.True(code == 0, stderr);
        Assert.Contains("(step 2 of 2)", stderr);
        Assert.Equal((1000, 800), (PngDecoder.Decode(File.ReadAllBytes(png)).Width, PngDecoder.Decode(File.ReadAllBytes(png)).Height));

        var state = Path.Combine(output, "trainer_state.json");
        File.WriteAllText(state, "{\"global_step\": 2, \"log_history\": [ ");
        (code, _, stderr) = CliProcess.Run("plot", output);
        Assert.Equal(1, code);
        Assert.Contains($"{state}: unreadable trainer state", stderr);

        (code, _, stderr) = CliProcess.Run("plot", fixture.Output("never-ran"));
        Assert.Equal(1, code);
        Assert.Contains("no such folder", stderr);
    }

    [Fact]
    public void An_hf_flag_not_taken_here_exits_2_with_the_reason()
    {
        var (code, _, stderr) = CliProcess.Run("train", "--do_train", "--model_name_or_path", "m");
        Assert.Equal(2, code);
        Assert.Contains("HF's --do_train is not supported here: `qwentune train` always trains; drop the flag.", stderr);
    }

    [Theory]
    [InlineData(false, false, "xterm-256color", true)]
    [InlineData(true, false, "xterm-256color", false)]    // --disable_tqdm: plain lines
    [InlineData(false, true, "xterm-256color", false)]    // stderr is a file or a pipe
    [InlineData(false, false, "dumb", false)]
    [InlineData(false, false, null, false)]
    public void Disable_tqdm_turns_the_live_bar_off(bool disableTqdm, bool redirected, string? term, bool live) =>
        Assert.Equal(live, ConsoleProgress.IsLive(disableTqdm, redirected, term));
}
