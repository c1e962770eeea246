using System.Text.Json;
using QwenTune.Checkpoints;
using static TorchSharp.torch;

namespace QwenTune.Tests.Checkpoints;

public sealed class PretrainedModelTests
{
    [SkippableFact]
    public void Sharded_save_loads_back_bit_identical_with_hf_companion_files()
    {
        using var folder = new TempFolder();
        var model = PretrainedModel.Load(Fixtures.Model("tiny-qwen3"), ScalarType.BFloat16, CPU);
        var output = folder.File("saved");
        PretrainedModel.Save(model, output, maxShardSize: 4_000_000, sourceDirectory: Fixtures.File("tokenizers", "qwen3"));

        var shards = Directory.GetFiles(output, "model-*-of-*.safetensors");
        Assert.True(shards.Length >= 3, $"expected several shards, got {shards.Length}");
        Assert.True(File.Exists(Path.Combine(output, "model.safetensors.index.json")));
        Assert.False(File.Exists(Path.Combine(output, "model.safetensors")));
        foreach (var name in new[] { "config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json" })
            Assert.True(File.Exists(Path.Combine(output, name)), name);
        using var config = JsonDocument.Parse(File.ReadAllText(Path.Combine(output, "config.json")));
        Assert.Equal("bfloat16", config.RootElement.GetProperty("torch_dtype").GetString());
        Assert.Equal(16, config.RootElement.GetProperty("head_dim").GetInt32());
        Assert.Equal("Qwen3ForCausalLM", config.RootElement.GetProperty("architectures")[0].GetString());

        var reloaded = PretrainedModel.Load(output, ScalarType.BFloat16, CPU);
        var original = model.state_dict();
        foreach (var (name, tensor) in reloaded.state_dict())
            Assert.True(tensor.eq(original[name]).all().item<bool>(), $"{name} changed in the round trip");
        Assert.Equal(original.Count, reloaded.state_dict().Count);
    }

    [SkippableFact]
    public void Quantised_loading_stores_nf4_projections_that_compute_like_their_dequantised_weights()
    {
        var nf4 = PretrainedModel.Load(Fixtures.Model("tiny-qwen2"), ScalarType.Float32, CPU,
            new QwenTune.Models.QwenModelOptions { QuantizeLinears = true });
        Assert.DoesNotContain(nf4.state_dict().Keys, k => k.EndsWith("proj.weight", StringComparison.Ordinal));
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", nf4.state_dict().Keys);
        Assert.Equal(ScalarType.Float32, nf4.state_dict()["model.norm.weight"].dtype);

        // Reference: the dense model with each projection replaced by an independent quantise-dequantise of the file's weight.
        var reference = PretrainedModel.Load(Fixtures.Model("tiny-qwen2"), ScalarType.Float32, CPU);
        using var noGrad = no_grad();
        foreach (var (name, parameter) in reference.named_parameters())
        {
            if (!name.EndsWith("proj.weight", StringComparison.Ordinal))
                continue;
            using var quantized = QwenTune.Quantization.Nf4Tensor.Quantize(parameter.to(ScalarType.Float32));
            parameter.copy_(quantized.Dequantize(ScalarType.Float32));
        }
        var ids = tensor(new long[] { 151644, 872, 198, 9707, 11, 1879, 0, 151645 }).unsqueeze(0);
        var expected = reference.call(ids).to(ScalarType.Float32);
        var actual = nf4.call(ids).to(ScalarType.Float32);
        Assert.True(actual.allclose(expected, rtol: 1e-4, atol: 1e-4), $"max difference {(actual - expected).abs().max().item<float>()}");
    }

    /// <summary>
    /// Newer transformers keep the chat template in chat_template.jinja (or chat_template.json) beside a tokenizer_config.json
    /// that has none. A saved model, and a LoRA run's adapter folder, must carry that file, or a reload of the output falls
    /// back to plain ChatML and trains or chats with another format than the source model.
    /// </summary>
    [Theory]
    [InlineData("chat_template.jinja")]
    [InlineData("chat_template.json")]
    public void Saved_model_and_adapter_keep_a_chat_template_kept_in_its_own_file(string templateFile)
    {
        using var folder = new TempFolder();
        var source = Directory.CreateDirectory(folder.File("source")).FullName;
        File.Copy(Fixtures.File("tokenizers", "qwen2.5", "tokenizer.json"), Path.Combine(source, "tokenizer.json"));
        var config = System.Text.Json.Nodes.JsonNode.Parse(File.ReadAllText(Fixtures.File("tokenizers", "qwen2.5", "tokenizer_config.json")))!.AsObject();
        var template = config["chat_template"]!.GetValue<string>();
        config.Remove("chat_template");
        File.WriteAllText(Path.Combine(source, "tokenizer_config.json"), config.ToJsonString());
        File.WriteAllText(Path.Combine(source, templateFile), templateFile.EndsWith(".jinja", StringComparison.Ordinal)
            ? template
            : new System.Text.Json.Nodes.JsonObject { ["chat_template"] = template }.ToJsonString());
        var model = TinyModels.Create(TinyModels.Qwen2());
        var saved = folder.File("saved");
        PretrainedModel.Save(model, saved, ShardSize.Default, source);
        QwenTune.Peft.LoraInjector.Apply(model, new QwenTune.Peft.LoraConfig { R = 2 }, seed: 1);
        var adapter = folder.File("adapter");
        new QwenTune.Training.AdapterWriter(model, new QwenTune.Peft.LoraConfig { R = 2 }, source).WriteModel(adapter);
        List<System.Text.Json.Nodes.JsonObject> messages =
            [new() { ["role"] = "user", ["content"] = "Hi" }, new() { ["role"] = "assistant", ["content"] = "Hello" }];
        string Rendered(string directory)
        {
            var tokenizer = QwenTune.Text.QwenTokenizer.FromDirectory(directory);
            return QwenTune.Text.ChatTemplate.For(tokenizer, directory).Render(messages, null, addGenerationPrompt: false);
        }
        var expected = Rendered(source);
        Assert.StartsWith("<|im_start|>system\nYou are Qwen", expected);   // Qwen2.5's default system turn, not plain ChatML
        Assert.Equal(expected, Rendered(saved));
        Assert.Equal(expected, Rendered(adapter));
    }
}
