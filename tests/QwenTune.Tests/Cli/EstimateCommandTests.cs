using System.Text.Json;

namespace QwenTune.Tests.Cli;

/// <summary>`qwentune estimate`: the train flags parse, the table and the JSON report what they were asked, bad folders are explained.</summary>
public sealed class EstimateCommandTests
{
    [Fact]
    public void Json_reports_the_train_flags_it_was_given()
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("config.json"), TinyModels.Qwen2().ToJson());
        File.WriteAllText(folder.File("ds.json"), "{\"zero_optimization\": {\"stage\": 2}}");
        var (code, stdout, stderr) = CliProcess.Run(
            "estimate", "--model_name_or_path", folder.Path, "--data_path", "unused.jsonl", "--learning_rate", "1e-4",
            "--use_lora", "True", "--lora_r", "4", "--per_device_train_batch_size", "2", "--model_max_length", "64",
            "--gradient_checkpointing", "--bf16", "True", "--deepspeed", folder.File("ds.json"), "--world_size", "2", "--json");
        Assert.True(code == 0, stderr);
        var json = JsonDocument.Parse(stdout).RootElement;
        Assert.Equal("lora", json.GetProperty("mode").GetString());
        Assert.Equal(4096, json.GetProperty("trainable_parameters").GetInt64());   // 2 layers x 2048 (r 4, seven projections)
        Assert.Equal(2, json.GetProperty("zero_stage").GetInt32());
        Assert.Equal(2, json.GetProperty("world_size").GetInt32());
        Assert.Equal(64, json.GetProperty("sequence_length").GetInt32());
        Assert.Equal("bfloat16", json.GetProperty("dtype").GetString());
        Assert.True(json.GetProperty("gradient_checkpointing").GetBoolean());
        var bytes = json.GetProperty("bytes");
        Assert.Equal(12 * 2048, bytes.GetProperty("optimizer_state").GetInt64());   // master, moments of 4096 / 2 per rank
        Assert.True(json.GetProperty("gemm_flops_per_second").GetDouble() > 0);
    }

    [Fact]
    public void Table_names_every_part()
    {
        using var folder = new TempFolder();
        File.WriteAllText(folder.File("config.json"), TinyModels.Qwen3().ToJson());
        var (code, stdout, stderr) = CliProcess.Run("estimate", "--model_name_or_path", folder.Path, "--model_max_length", "32");
        Assert.True(code == 0, stderr);
        foreach (var part in new[] { "weights", "gradients", "optimizer state", "activations", "loss head", "peak", "GFLOP/s", "44,000 parameters" })
            Assert.Contains(part, stdout);
    }

    [Fact]
    public void Missing_folder_and_missing_config_are_explained()
    {
        var (code, _, stderr) = CliProcess.Run("estimate", "--model_name_or_path", "/nonexistent/qwen");
        Assert.Equal(1, code);
        Assert.Contains("'/nonexistent/qwen': no such folder", stderr);
        Assert.DoesNotContain("   at ", stderr);
        using var folder = new TempFolder();
        (code, _, stderr) = CliProcess.Run("estimate", "--model_name_or_path", folder.Path);
        Assert.Equal(1, code);
        Assert.Contains("config.json: not found", stderr);
        File.WriteAllText(folder.File("config.json"), "{\"model_type\": \"qwen2\", \"hidden_size\": \"big\"}");
        (code, _, stderr) = CliProcess.Run("estimate", "--model_name_or_path", folder.Path);
        Assert.Equal(1, code);
        Assert.Contains("hidden_size", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }
}
