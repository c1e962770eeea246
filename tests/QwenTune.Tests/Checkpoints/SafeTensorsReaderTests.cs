using System.Text.Json;
using QwenTune.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Tests.Checkpoints;

public sealed class SafeTensorsReaderTests
{
    [SkippableTheory]
    [InlineData("tiny-qwen2", ScalarType.Float32)]
    [InlineData("tiny-qwen3", ScalarType.BFloat16)]
    public void Fixture_tensors_have_the_names_and_shapes_config_json_implies(string model, ScalarType dtype)
    {
        var expected = ExpectedShapes(Fixtures.File("models", model, "config.json"));
        using var reader = SafeTensorsReader.Open(Path.Combine(Fixtures.Model(model), "model.safetensors"));

        Assert.Equal("pt", reader.Metadata["format"]);
        Assert.Equal(expected.Keys.Order(), reader.Entries.Select(e => e.Name).Order());
        foreach (var entry in reader.Entries)
        {
            Assert.Equal(expected[entry.Name], entry.Shape);
            Assert.Equal(dtype, entry.DType);
        }
    }

    [SkippableTheory]
    [InlineData("tiny-qwen2", "model.layers.0.self_attn.k_proj.weight")]
    [InlineData("tiny-qwen2", "model.layers.1.self_attn.q_proj.bias")]
    [InlineData("tiny-qwen2", "model.embed_tokens.weight")]
    [InlineData("tiny-qwen3", "model.layers.1.mlp.down_proj.weight")]
    [InlineData("tiny-qwen3", "model.layers.0.self_attn.k_norm.weight")]
    [InlineData("tiny-qwen3", "lm_head.weight")]
    public void Tensor_values_match_an_independent_decode_of_the_file(string model, string name)
    {
        var path = Path.Combine(Fixtures.Model(model), "model.safetensors");
        var raw = RawSafeTensors.TensorBytes(path, name);
        using var reader = SafeTensorsReader.Open(path);
        var entry = reader.GetEntry(name);
        var expected = entry.DType == ScalarType.BFloat16 ? RawSafeTensors.DecodeBF16(raw) : RawSafeTensors.DecodeF32(raw);

        using var stored = reader.Read(name);
        using var asFloat = reader.Read(name, ScalarType.Float32);

        Assert.Equal(entry.DType, stored.dtype);
        Assert.Equal(raw, stored.bytes.ToArray());
        Assert.Equal(ScalarType.Float32, asFloat.dtype);
        Assert.Equal(expected, asFloat.data<float>().ToArray());
        Assert.Contains(expected, v => v != 0f);
    }

    [SkippableFact]
    public void ReadAll_yields_every_tensor_in_file_order()
    {
        var path = Path.Combine(Fixtures.Model("tiny-qwen3"), "model.safetensors");
        using var reader = SafeTensorsReader.Open(path);
        var names = new List<string>();
        foreach (var (name, tensor) in reader.ReadAll(ScalarType.Float32))
        {
            using (tensor)
            {
                Assert.Equal(ScalarType.Float32, tensor.dtype);
                names.Add(name);
            }
        }
        var (_, header, _) = RawSafeTensors.ReadHeader(path);
        using (header)
        {
            var byOffset = header.RootElement.EnumerateObject()
                .Where(p => p.Name != "__metadata__")
                .OrderBy(p => p.Value.GetProperty("data_offsets")[0].GetInt64())
                .Select(p => p.Name);
            Assert.Equal(byOffset, names);
        }
    }

    [SkippableFact]
    public void ReadInto_converts_into_an_existing_tensor_and_fills_it_in_place()
    {
        var path = Path.Combine(Fixtures.Model("tiny-qwen3"), "model.safetensors");
        const string name = "model.layers.0.mlp.gate_proj.weight";
        var expected = RawSafeTensors.DecodeBF16(RawSafeTensors.TensorBytes(path, name));
        using var reader = SafeTensorsReader.Open(path);
        var entry = reader.GetEntry(name);
        using var asFloat = torch.zeros([80, 32], ScalarType.Float32);
        using var asBf16 = torch.zeros([80, 32], ScalarType.BFloat16);

        reader.ReadInto(entry, asFloat);
        reader.ReadInto(entry, asBf16);

        Assert.Equal(expected, asFloat.data<float>().ToArray());
        using var widened = asBf16.to(ScalarType.Float32);
        Assert.Equal(expected, widened.data<float>().ToArray());
        using var wrongShape = torch.zeros([32, 80], ScalarType.BFloat16);
        var error = Assert.Throws<QwenTuneException>(() => reader.ReadInto(entry, wrongShape));
        Assert.Contains(name, error.Message);
    }

    // The Qwen2/Qwen3 parameter layout, from config.json alone (transformers' modeling_qwen2.py / modeling_qwen3.py).
    private static Dictionary<string, long[]> ExpectedShapes(string configPath)
    {
        using var config = JsonDocument.Parse(File.ReadAllBytes(configPath));
        var c = config.RootElement;
        long hidden = c.GetProperty("hidden_size").GetInt64();
        long heads = c.GetProperty("num_attention_heads").GetInt64();
        long kvHeads = c.GetProperty("num_key_value_heads").GetInt64();
        long intermediate = c.GetProperty("intermediate_size").GetInt64();
        long vocab = c.GetProperty("vocab_size").GetInt64();
        var headDim = c.TryGetProperty("head_dim", out var hd) ? hd.GetInt64() : hidden / heads;
        var isQwen3 = c.GetProperty("model_type").GetString() == "qwen3";
        var shapes = new Dictionary<string, long[]> { ["model.embed_tokens.weight"] = [vocab, hidden], ["model.norm.weight"] = [hidden] };
        if (!c.GetProperty("tie_word_embeddings").GetBoolean())
            shapes["lm_head.weight"] = [vocab, hidden];
        for (var layer = 0; layer < c.GetProperty("num_hidden_layers").GetInt32(); layer++)
        {
            var p = $"model.layers.{layer}.";
            shapes[p + "input_layernorm.weight"] = [hidden];
            shapes[p + "post_attention_layernorm.weight"] = [hidden];
            shapes[p + "self_attn.q_proj.weight"] = [heads * headDim, hidden];
            shapes[p + "self_attn.k_proj.weight"] = [kvHeads * headDim, hidden];
            shapes[p + "self_attn.v_proj.weight"] = [kvHeads * headDim, hidden];
            shapes[p + "self_attn.o_proj.weight"] = [hidden, heads * headDim];
            shapes[p + "mlp.gate_proj.weight"] = [intermediate, hidden];
            shapes[p + "mlp.up_proj.weight"] = [intermediate, hidden];
            shapes[p + "mlp.down_proj.weight"] = [hidden, intermediate];
            if (isQwen3)
            {
                shapes[p + "self_attn.q_norm.weight"] = [headDim];
                shapes[p + "self_attn.k_norm.weight"] = [headDim];
            }
            else
            {
                shapes[p + "self_attn.q_proj.bias"] = [heads * headDim];
                shapes[p + "self_attn.k_proj.bias"] = [kvHeads * headDim];
                shapes[p + "self_attn.v_proj.bias"] = [kvHeads * headDim];
            }
        }
        return shapes;
    }
}
