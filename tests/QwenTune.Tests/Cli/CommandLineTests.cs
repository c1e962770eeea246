using System.Text.Json;
using QwenTune.Tests.Training;

namespace QwenTune.Tests.Cli;

/// <summary>The qwentune executable: exit codes and messages a person sees.</summary>
public sealed class CommandLineTests
{
    [Fact]
    public void Unknown_flag_exits_2_naming_the_closest_flag()
    {
        var (code, _, stderr) = CliProcess.Run("train", "--learning_rat", "1e-4");
        Assert.Equal(2, code);
        Assert.Contains("did you mean --learning_rate?", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Fact]
    public void Bad_data_exits_1_listing_file_and_line()
    {
        using var fixture = new TrainingFixture(samples: 2);
        var data = fixture.Output("bad.jsonl");
        File.WriteAllText(data, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}]}\nnot json\n");
        var (code, _, stderr) = CliProcess.Run("train", "--model_name_or_path", fixture.ModelDir, "--data_path", data, "--output_dir", fixture.Output("o"));
        Assert.Equal(1, code);
        Assert.Contains($"{data}:1: no assistant turn", stderr);
        Assert.Contains($"{data}:2: malformed JSON", stderr);
        Assert.DoesNotContain("   at ", stderr);
        Assert.False(Directory.Exists(fixture.Output("o")) && Directory.EnumerateFileSystemEntries(fixture.Output("o")).Any(e => !e.EndsWith("probe")));
    }

    [Fact]
    public void Pickle_checkpoints_are_refused_with_a_conversion_hint()
    {
        using var folder = new TempFolder();
        File.Copy(Fixtures.File("models", "tiny-qwen2", "config.json"), folder.File("config.json"));
        File.Copy(Fixtures.File("tokenizers", "qwen2.5", "tokenizer.json"), folder.File("tokenizer.json"));
        File.Copy(Fixtures.File("tokenizers", "qwen2.5", "tokenizer_config.json"), folder.File("tokenizer_config.json"));
        File.WriteAllBytes(folder.File("pytorch_model.bin"), [0x80, 0x02]);
        var data = folder.File("d.jsonl");
        File.WriteAllText(data, "{\"messages\": [{\"role\": \"user\", \"content\": \"x\"}, {\"role\": \"assistant\", \"content\": \"y\"}]}\n");
        var (code, _, stderr) = CliProcess.Run("eval", "--model_name_or_path", folder.Path, "--data_path", data);
        Assert.Equal(1, code);
        Assert.Contains("pytorch_model.bin", stderr);
        Assert.Contains("safe_serialization=True", stderr);
    }

    [Fact]
    public void Fp16_on_cpu_is_refused_with_the_reason()
    {
        using var fixture = new TrainingFixture(samples: 2);
        var (code, _, stderr) = CliProcess.Run("train", "--model_name_or_path", fixture.ModelDir, "--data_path", fixture.DataPath,
            "--output_dir", fixture.Output("o"), "--fp16", "True", "--device", "cpu");
        Assert.Equal(1, code);
        Assert.Contains("--fp16 needs CUDA", stderr);
    }

    [Fact]
    public void Tokenize_answers_one_line_per_line()
    {
        var (code, stdout, stderr) = CliProcess.Run(["tokenize", "--model_name_or_path", Fixtures.File("tokenizers", "qwen3")],
            "{\"text\": \"Hello, world!\"}\n{\"text\": \"<think>\"}\n", null);
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(2, lines.Length);
        Assert.Equal([9707, 11, 1879, 0], JsonDocument.Parse(lines[0]).RootElement.GetProperty("input_ids").Deserialize<int[]>()!);
        Assert.Equal([151667], JsonDocument.Parse(lines[1]).RootElement.GetProperty("input_ids").Deserialize<int[]>()!);
    }

    [Fact]
    public void Merged_model_scores_the_same_as_base_plus_adapter()
    {
        using var fixture = new TrainingFixture(initializerRange: 0.5);
        var adapter = fixture.Output("adapter");
        var (trained, _, trainErr) = CliProcess.Run(["train", .. TrainingRuns.Common(fixture, adapter, "--use_lora", "True", "--lora_r", "4", "--max_steps", "3")], null, null);
        Assert.True(trained == 0, trainErr);
        var merged = fixture.Output("merged");
        var (code, _, stderr) = CliProcess.Run("merge", "--model_name_or_path", fixture.ModelDir, "--adapter_name_or_path", adapter, "--output_dir", merged);
        Assert.True(code == 0, stderr);
        Assert.True(File.Exists(Path.Combine(merged, "model.safetensors")));
        Assert.True(File.Exists(Path.Combine(merged, "tokenizer.json")));
        double Loss(params string[] extra)
        {
            var (c, stdout, err) = CliProcess.Run(["eval", "--data_path", fixture.DataPath, .. extra], null, null);
            Assert.True(c == 0, err);
            return JsonDocument.Parse(stdout).RootElement.GetProperty("eval_loss").GetDouble();
        }
        var withAdapter = Loss("--model_name_or_path", fixture.ModelDir, "--adapter_name_or_path", adapter);
        var baked = Loss("--model_name_or_path", merged);
        var baseOnly = Loss("--model_name_or_path", fixture.ModelDir);
        Assert.Equal(withAdapter, baked, 1e-4 * withAdapter);
        Assert.True(Math.Abs(baseOnly - withAdapter) > 1e-3, "the adapter must change the loss");
    }

    [Fact]
    public void Eval_loss_does_not_depend_on_the_batch_size()
    {
        using var fixture = new TrainingFixture();
        double Loss(string batch)
        {
            var (code, stdout, stderr) = CliProcess.Run("eval", "--model_name_or_path", fixture.ModelDir, "--data_path", fixture.DataPath,
                "--per_device_eval_batch_size", batch);
            Assert.True(code == 0, stderr);
            using var json = JsonDocument.Parse(stdout);
            Assert.Equal(12, json.RootElement.GetProperty("eval_samples").GetInt32());
            return json.RootElement.GetProperty("eval_loss").GetDouble();
        }
        var one = Loss("1");
        Assert.Equal(one, Loss("5"), 1e-5 * one);
        Assert.Equal(one, Loss("12"), 1e-5 * one);
    }

    [Theory]
    [InlineData("eval", "--learning_rate", "1", "train")]
    [InlineData("render", "--bf16", "True", "train")]
    [InlineData("tokenize", "--data_path", "x.jsonl", "train")]
    [InlineData("train", "--adapter_name_or_path", "a", "eval")]
    [InlineData("train", "--add_generation_prompt", "True", "render")]
    [InlineData("merge", "--per_device_eval_batch_size", "2", "eval")]
    public void A_flag_of_another_command_is_refused_naming_the_commands_that_take_it(string command, string flag, string value, string owner)
    {
        var (code, _, stderr) = CliProcess.Run(command, flag, value);
        Assert.Equal(2, code);
        Assert.Contains($"{flag} is not a flag of `qwentune {command}`", stderr);
        Assert.Contains($"`qwentune {owner}`", stderr);
    }

    [Fact]
    public void Help_of_a_command_lists_only_its_own_flags()
    {
        var (code, stdout, _) = CliProcess.Run("eval", "--help");
        Assert.Equal(0, code);
        Assert.Contains("--per_device_eval_batch_size", stdout);
        Assert.DoesNotContain("--learning_rate", stdout);
        Assert.DoesNotContain("LoRA arguments", stdout);
    }

    [Fact]
    public void Merge_takes_output_dir_in_any_spelling()
    {
        using var fixture = new TrainingFixture(samples: 2);
        var adapter = fixture.Output("adapter");
        var (trained, _, trainErr) = CliProcess.Run(["train", .. TrainingRuns.Common(fixture, adapter, "--use_lora", "True", "--lora_r", "2", "--max_steps", "1")], null, null);
        Assert.True(trained == 0, trainErr);
        foreach (var spelling in new[] { "--output-dir", "--output_dir=" })
        {
            var merged = fixture.Output("merged" + spelling.Length);
            string[] outputArgs = spelling.EndsWith('=') ? [spelling + merged] : [spelling, merged];
            var (code, _, stderr) = CliProcess.Run(["merge", "--model_name_or_path", fixture.ModelDir, "--adapter_name_or_path", adapter, .. outputArgs], null, null);
            Assert.True(code == 0, $"{spelling}: {stderr}");
            Assert.True(File.Exists(Path.Combine(merged, "model.safetensors")), spelling);
        }
        var (missing, _, missingErr) = CliProcess.Run("merge", "--model_name_or_path", fixture.ModelDir, "--adapter_name_or_path", adapter);
        Assert.Equal(2, missing);
        Assert.Contains("--output_dir is required", missingErr);
    }

    /// <summary>finetune.sh's own default is --bf16 True; a precision flag the user gives replaces it rather than joining it.</summary>
    [Fact]
    public void Finetune_sh_precision_flag_replaces_the_scripts_bf16_default()
    {
        using var fixture = new TrainingFixture(samples: 2);
        var (code, _, stderr) = FinetuneScript.Run(
            ["-m", fixture.ModelDir, "-d", fixture.DataPath, "--output_dir", fixture.Output("o"), "--fp16", "True", "--device", "cpu", "--max_steps", "1"],
            new Dictionary<string, string>(), TimeSpan.FromMinutes(3));
        Assert.Equal(1, code);
        Assert.Contains("--fp16 needs CUDA", stderr);          // the user's fp16 reached train alone ...
        Assert.DoesNotContain("are exclusive", stderr);        // ... not alongside the script's --bf16 True
    }
}
