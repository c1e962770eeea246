using System.Text.Json;
using QwenTune.Tests.Hub;

namespace QwenTune.Tests.Cli;

/// <summary>The commands given a Hub id, against a local stand-in for the Hub (HF_ENDPOINT) and a temporary cache.</summary>
public sealed class HubModelTests
{
    [Fact]
    public void A_hub_id_scores_like_its_local_folder_and_serves_offline_afterwards()
    {
        using var fixture = new TrainingFixture(samples: 2);
        using var cache = new TempFolder();
        var local = CliProcess.Run("eval", "--model_name_or_path", fixture.ModelDir, "--data_path", fixture.DataPath, "--device", "cpu");
        Assert.True(local.ExitCode == 0, local.Stderr);
        Assert.Contains("Device cpu (--device cpu), dtype float32,", local.Stderr);

        Dictionary<string, string> environment = new()
        {
            ["HF_HOME"] = cache.Path, ["HF_HUB_CACHE"] = cache.Path, ["HF_TOKEN"] = "", ["HF_HUB_OFFLINE"] = "", ["TRANSFORMERS_OFFLINE"] = "",
        };
        string[] viaHub = ["eval", "--model_name_or_path", "test-org/tiny-qwen", "--data_path", fixture.DataPath, "--device", "cpu"];
        using (var hub = new FakeHub())
        {
            hub.AddRepo("test-org/tiny-qwen", FakeHub.FolderFiles(fixture.ModelDir));
            environment["HF_ENDPOINT"] = hub.Endpoint;
            var fetched = CliProcess.Run(viaHub, null, environment);
            Assert.True(fetched.ExitCode == 0, fetched.Stderr);
            Assert.Contains("Fetching test-org/tiny-qwen", fetched.Stderr);
            Assert.Contains("model.safetensors: done", fetched.Stderr);
            Assert.Equal(EvalLoss(local.Stdout), EvalLoss(fetched.Stdout));
        }

        // The server is gone: HF_HUB_OFFLINE=1 reads the cache alone.
        environment["HF_HUB_OFFLINE"] = "1";
        var offline = CliProcess.Run(viaHub, null, environment);
        Assert.True(offline.ExitCode == 0, offline.Stderr);
        Assert.Equal(EvalLoss(local.Stdout), EvalLoss(offline.Stdout));

        // An adapter trained on a Hub id records the id as its base model, as PEFT does.
        var adapter = fixture.Output("adapter");
        var trained = CliProcess.Run(["train", "--model_name_or_path", "test-org/tiny-qwen", "--data_path", fixture.DataPath, "--output_dir", adapter,
            "--use_lora", "True", "--lora_r", "2", "--max_steps", "1", "--save_strategy", "no", "--device", "cpu"], null, environment);
        Assert.True(trained.ExitCode == 0, trained.Stderr);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(adapter, "adapter_config.json")));
        Assert.Equal("test-org/tiny-qwen", config.RootElement.GetProperty("base_model_name_or_path").GetString());

        var absent = CliProcess.Run(["eval", "--model_name_or_path", "test-org/absent", "--data_path", fixture.DataPath], null, environment);
        Assert.Equal(1, absent.ExitCode);
        Assert.Contains("HF_HUB_OFFLINE=1 forbids downloading", absent.Stderr);
        Assert.DoesNotContain("   at ", absent.Stderr);
    }

    private static double EvalLoss(string stdout) =>
        JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement.GetProperty("eval_loss").GetDouble();
}
