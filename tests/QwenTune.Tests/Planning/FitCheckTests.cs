using QwenTune.Configuration;
using QwenTune.Planning;

namespace QwenTune.Tests.Planning;

public sealed class FitCheckTests
{
    [Fact]
    public void Warns_only_when_the_peak_exceeds_free_memory()
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("config.json"), TinyModels.Qwen2().ToJson());
        var request = TrainingRequest.Parse(["--model_name_or_path", folder.Path, "--model_max_length", "64", "--per_device_train_batch_size", "2"]);
        var peak = MemoryEstimator.Estimate(TrainingShape.From(request, 1)).Peak;
        Assert.Null(FitCheck.Warning(request, 1, 1, peak));
        var warning = FitCheck.Warning(request, 1, 1, peak - 1);
        Assert.NotNull(warning);
        Assert.Contains("MemAvailable", warning);
        // Two ranks on one machine need twice the peak.
        Assert.NotNull(FitCheck.Warning(request, 2, 2, peak + 1));
        Assert.Null(FitCheck.Warning(request, 1, 1, 0));   // unknown free memory: no warning
    }

    [Fact]
    public void Flags_train_will_refuse_give_no_warning()
    {
        var request = TrainingRequest.Parse(["--model_name_or_path", "/nonexistent/model"]);
        Assert.Null(FitCheck.Warning(request, 1, 1, 1));
    }
}
