using System.Security.Cryptography;
using System.Text.Json.Nodes;
using QwenTune.Checkpoints;
using QwenTune.Configuration;
using QwenTune.Models;
using QwenTune.Tests.Training;
using QwenTune.Training;

namespace QwenTune.Tests.Cli;

/// <summary>
/// The cases of the bad-input campaign (issue 11) that were handled badly or weakly, each tried as the hostile user did.
/// </summary>
public sealed class BadInputCampaignTests
{
    [Theory]
    [InlineData("--learning_rate", "-1", "must be 0 or more (a negative rate climbs the loss)")]
    [InlineData("--learning_rate", "-1E-05", "must be 0 or more (a negative rate climbs the loss)")]
    [InlineData("--warmup_ratio", "1.5", "must be in [0, 1]")]
    [InlineData("--adam_beta1", "1", "must be in [0, 1)")]
    [InlineData("--adam_beta2", "-0.1", "must be in [0, 1)")]
    [InlineData("--adam_epsilon", "0", "must be a positive number")]
    [InlineData("--lora_dropout", "1", "must be in [0, 1)")]
    [InlineData("--max_grad_norm", "-1", "must be 0 (no clipping) or more")]
    public void Out_of_range_hyperparameters_are_refused_naming_the_flag(string flag, string value, string expected)
    {
        var request = TrainingRequest.Parse(["--model_name_or_path", "m", "--output_dir", "o", flag, value]);
        var error = Assert.Throws<QwenTuneException>(() => TrainingChecks.Validate(request));
        Assert.Equal($"{flag} {value} is out of range: it {expected}.", error.Message);
    }

    [Fact]
    public void Negative_learning_rate_exits_1_before_anything_is_written()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("negative");
        var (code, _, stderr) = CliProcess.Run(["train", .. TrainingRuns.Common(fixture, output, "--max_steps", "2"), "--learning_rate", "-1"]);
        Assert.Equal(1, code);
        Assert.Contains("--learning_rate -1 is out of range", stderr);
        Assert.False(File.Exists(Path.Combine(output, "model.safetensors")));
    }

    [Fact]
    public void Output_dir_equal_to_the_model_folder_is_refused_however_spelled_unless_allowed()
    {
        using var fixture = new TrainingFixture();
        var before = Hash(Path.Combine(fixture.ModelDir, "model.safetensors"));
        foreach (var spelling in new[] { fixture.ModelDir, fixture.ModelDir + "/", Path.Combine(fixture.ModelDir, "..", "model") })
        {
            var error = Assert.Throws<QwenTuneException>(() => TrainingRuns.Train(TrainingRuns.Common(fixture, spelling, "--max_steps", "1")));
            Assert.Contains("is the folder of --model_name_or_path", error.Message);
            Assert.Contains("--overwrite_base_model True", error.Message);
        }
        Assert.Equal(before, Hash(Path.Combine(fixture.ModelDir, "model.safetensors")));
        TrainingRuns.Train(TrainingRuns.Common(fixture, fixture.ModelDir, "--max_steps", "1", "--overwrite_base_model", "True"));
        Assert.NotEqual(before, Hash(Path.Combine(fixture.ModelDir, "model.safetensors")));
    }

    [Fact]
    public void Vocab_size_below_the_tokenizer_is_refused_by_init_and_by_train()
    {
        using var fixture = new TrainingFixture();
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(fixture.ModelDir, "config.json")))!.AsObject();
        config["vocab_size"] = 1000;
        var configPath = Path.Combine(fixture.Root, "small-vocab.json");
        File.WriteAllText(configPath, config.ToJsonString());
        var (initCode, _, initErr) = CliProcess.Run("init", "--config", configPath, "--tokenizer", fixture.ModelDir,
            "--output_dir", fixture.Output("small"), "--torch_dtype", "float32");
        Assert.Equal(1, initCode);
        Assert.Contains($"{configPath}: vocab_size 1000 is smaller than the tokenizer's 151665 tokens", initErr);
        Assert.False(Directory.Exists(fixture.Output("small")));

        // A folder made some other way: the config's vocab_size is checked when the model loads, before any lookup.
        var model = new QwenForCausalLM(QwenConfig.FromFile(configPath));
        PretrainedModel.Save(model, fixture.Output("small"), ShardSize.Default, fixture.ModelDir);
        var (code, _, stderr) = CliProcess.Run(["train", .. TrainingRuns.Common(fixture, fixture.Output("out"), "--max_steps", "1"), "--model_name_or_path", fixture.Output("small")]);
        Assert.Equal(1, code);
        Assert.Contains("vocab_size 1000 is smaller than the tokenizer's 151665 tokens", stderr);
    }

    [Fact]
    public void Full_run_over_a_lora_folder_removes_the_old_adapter()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("reused");
        TrainingRuns.Train(TrainingRuns.Common(fixture, output, "--max_steps", "1", "--use_lora", "True", "--lora_r", "2"));
        Assert.True(File.Exists(Path.Combine(output, "adapter_model.safetensors")));
        TrainingRuns.Train(TrainingRuns.Common(fixture, output, "--max_steps", "1", "--overwrite_output_dir", "True"));
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors")));
        Assert.False(File.Exists(Path.Combine(output, "adapter_model.safetensors")));
        Assert.False(File.Exists(Path.Combine(output, "adapter_config.json")));
    }

    [Fact]
    public void Resume_with_other_data_or_batch_size_names_each_change_unless_allowed()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("resume");
        string[] Args(string data, string batch, string steps) =>
        [
            "--model_name_or_path", fixture.ModelDir, "--data_path", data, "--output_dir", output, "--per_device_train_batch_size", batch,
            "--max_steps", steps, "--save_strategy", "steps", "--save_steps", "2", "--seed", "7", "--device", "cpu",
        ];
        TrainingRuns.Train(Args(fixture.DataPath, "2", "2"));
        var otherData = Path.Combine(fixture.Root, "other.jsonl");
        File.Copy(fixture.DataPath, otherData);
        var changed = Args(otherData, "4", "4");
        var error = Assert.Throws<QwenTuneException>(() => TrainingRuns.Train(changed));
        Assert.Contains($"--data_path \"{fixture.DataPath}\" -> \"{otherData}\"", error.Message);
        Assert.Contains("global batch 2 (--per_device_train_batch_size 2 x --gradient_accumulation_steps 1 x 1 rank(s)) -> 4 (--per_device_train_batch_size 4", error.Message);
        Assert.Contains(Path.Combine(output, "checkpoint-2", "training_args.json"), error.Message);
        Assert.DoesNotContain("max_steps", error.Message);   // training longer is what resuming is for
        Assert.Equal(4, TrainingRuns.Train([.. changed, "--allow_resume_changes", "True"]).Steps + 2);
    }

    [Fact]
    public void Rerun_of_a_finished_run_has_nothing_to_do_and_leaves_the_folder_alone()
    {
        using var fixture = new TrainingFixture();
        var output = fixture.Output("done");
        string[] args = ["train", .. TrainingRuns.Common(fixture, output, "--max_steps", "2", "--save_strategy", "steps", "--save_steps", "2")];
        Assert.Equal(0, CliProcess.Run(args).ExitCode);
        var before = Directory.GetFiles(output, "*", SearchOption.AllDirectories).ToDictionary(f => f, f => (Hash(f), File.GetLastWriteTimeUtc(f)));
        var (code, stdout, stderr) = CliProcess.Run(args);
        Assert.True(code == 0, stderr);
        Assert.Contains($"Nothing to do: the run in {output} already reached step 2 of 2", stderr);
        Assert.DoesNotContain("NaN", stderr + stdout);
        var after = Directory.GetFiles(output, "*", SearchOption.AllDirectories).ToDictionary(f => f, f => (Hash(f), File.GetLastWriteTimeUtc(f)));
        Assert.Equal(before, after);
    }

    [Fact]
    public void Dropped_samples_are_noted_before_training_starts()
    {
        using var fixture = new TrainingFixture();
        // One sample whose prompt alone outgrows model_max_length: truncation leaves it no target token.
        var longPrompt = new JsonObject
        {
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "user", ["content"] = string.Join(" ", Enumerable.Repeat("word", 300)) },
                new JsonObject { ["role"] = "assistant", ["content"] = "ok" }),
        };
        File.AppendAllText(fixture.DataPath, longPrompt.ToJsonString() + "\n");
        var (code, _, stderr) = CliProcess.Run(["train", .. TrainingRuns.Common(fixture, fixture.Output("short"), "--max_steps", "1", "--model_max_length", "120")]);
        Assert.True(code == 0, stderr);
        var note = stderr.IndexOf("had no target token left after truncation", StringComparison.Ordinal);
        Assert.InRange(note, 0, stderr.IndexOf("Training 1 steps", StringComparison.Ordinal));
        Assert.Contains("1 sample(s) had no target token left", stderr);
    }

    [Fact]
    public void Render_with_add_generation_prompt_takes_prompt_only_records()
    {
        using var fixture = new TrainingFixture();
        var prompts = Path.Combine(fixture.Root, "prompts.jsonl");
        File.WriteAllText(prompts, """{"messages": [{"role": "user", "content": "Hi"}]}""" + "\n");
        var (code, stdout, stderr) = CliProcess.Run("render", "--model_name_or_path", fixture.ModelDir, "--data_path", prompts, "--add_generation_prompt", "True");
        Assert.True(code == 0, stderr);
        var row = JsonNode.Parse(stdout.Trim())!;
        Assert.EndsWith("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", (string)row["text"]!);
        Assert.All(row["labels"]!.AsArray(), label => Assert.Equal(-100, (int)label!));
    }

    [Fact]
    public void A_model_without_chat_template_is_said_once()
    {
        using var fixture = new TrainingFixture();
        var configPath = Path.Combine(fixture.ModelDir, "tokenizer_config.json");
        var config = JsonNode.Parse(File.ReadAllText(configPath))!.AsObject();
        config.Remove("chat_template");
        File.WriteAllText(configPath, config.ToJsonString());
        foreach (var file in Directory.GetFiles(fixture.ModelDir, "chat_template.*"))
            File.Delete(file);
        var (code, _, stderr) = CliProcess.Run("render", "--model_name_or_path", fixture.ModelDir, "--data_path", fixture.DataPath);
        Assert.True(code == 0, stderr);
        Assert.Single(stderr.Split('\n'), line => line.Contains("has no chat_template", StringComparison.Ordinal));
        Assert.Contains("no default system prompt", stderr);
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
