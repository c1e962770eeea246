using System.Text.Json;
using System.Text.Json.Nodes;
using QwenTune.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Tests.Checkpoints;

public sealed class HfCheckpointTests : IDisposable
{
    private readonly TempFolder _folder = new();

    public void Dispose() => _folder.Dispose();

    [Fact]
    public void Sharded_save_splits_by_size_and_loads_back_bit_identical()
    {
        var tensors = SampleTensors.AllDTypes();
        try
        {
            var written = HfCheckpoint.Save(_folder.Path, tensors, maxShardSize: 1000);

            var shardFiles = _folder.FileNames().Where(f => f.StartsWith("model-", StringComparison.Ordinal)).ToList();
            Assert.True(shardFiles.Count >= 3, $"expected 3+ shards, got {shardFiles.Count}");
            Assert.Equal(shardFiles.Count + 1, written.Count);
            Assert.DoesNotContain("model.safetensors", _folder.FileNames());
            AssertIndexDescribesShards(tensors, shardFiles, maxShardSize: 1000);
            using var checkpoint = HfCheckpoint.Open(_folder.Path);
            foreach (var (name, original) in tensors)
            {
                using var loaded = checkpoint.ReadTensor(name);
                SampleTensors.AssertBitIdentical(original, loaded);
            }
        }
        finally
        {
            SampleTensors.Dispose(tensors);
        }
    }

    [Fact]
    public void Small_state_dict_is_saved_as_one_file_without_index()
    {
        using var x = torch.ones(3);
        HfCheckpoint.Save(_folder.Path, [new("x", x)]);
        Assert.Equal(["model.safetensors"], _folder.FileNames());
    }

    [Fact]
    public void Resaving_removes_files_of_the_earlier_layout()
    {
        var tensors = SampleTensors.AllDTypes();
        try
        {
            HfCheckpoint.Save(_folder.Path, tensors, maxShardSize: 2000);
            File.WriteAllText(_folder.File("config.json"), "{}");
            HfCheckpoint.Save(_folder.Path, tensors, maxShardSize: 4000);
            var index = JsonNode.Parse(File.ReadAllText(_folder.File(HfCheckpoint.IndexFileName)))!;
            var referenced = index["weight_map"]!.AsObject().Select(p => p.Value!.GetValue<string>()).Distinct().Order(StringComparer.Ordinal);
            Assert.Equal(referenced.Append("config.json").Append(HfCheckpoint.IndexFileName).Order(StringComparer.Ordinal), _folder.FileNames());

            HfCheckpoint.Save(_folder.Path, tensors);
            Assert.Equal(["config.json", "model.safetensors"], _folder.FileNames());
        }
        finally
        {
            SampleTensors.Dispose(tensors);
        }
    }

    [SkippableFact]
    public void ReadTensors_streams_every_tensor_converted_to_the_requested_dtype()
    {
        var path = Fixtures.Model("tiny-qwen3");
        using var checkpoint = HfCheckpoint.Open(path);
        var count = 0;
        foreach (var (name, tensor) in checkpoint.ReadTensors(ScalarType.Float32))
        {
            using (tensor)
            {
                Assert.Equal(ScalarType.Float32, tensor.dtype);
                if (name == "model.norm.weight")
                {
                    var expected = RawSafeTensors.DecodeBF16(RawSafeTensors.TensorBytes(Path.Combine(path, "model.safetensors"), name));
                    Assert.Equal(expected, tensor.data<float>().ToArray());
                }
                count++;
            }
        }
        Assert.Equal(25, count);
    }

    [SkippableFact]
    public void LoadInto_copies_every_tensor_into_the_module_converting_dtype()
    {
        var path = Fixtures.Model("tiny-qwen3");
        using var checkpoint = HfCheckpoint.Open(path);
        using var module = ParameterTree.Build(checkpoint.Entries.Select(e => (e.Name, e.Shape.ToArray())), ScalarType.Float32);

        checkpoint.LoadInto(module);

        var file = Path.Combine(path, "model.safetensors");
        foreach (var (name, tensor) in module.state_dict())
            Assert.Equal(RawSafeTensors.DecodeBF16(RawSafeTensors.TensorBytes(file, name)), tensor.data<float>().ToArray());
    }

    [Fact]
    public void LoadInto_reads_same_dtype_tensors_in_place_from_a_sharded_checkpoint()
    {
        var tensors = SampleTensors.AllDTypes();
        try
        {
            HfCheckpoint.Save(_folder.Path, tensors, maxShardSize: 3000);
            using var checkpoint = HfCheckpoint.Open(_folder.Path);
            using var module = ParameterTree.Build(tensors.Where(t => t.Value.is_floating_point()).Select(t => (t.Key, t.Value.shape)), ScalarType.BFloat16);

            checkpoint.LoadInto(module, new StrictLoadOptions { Ignored = ["ids.*", "packed.u8", "mask.bool"] });

            var loaded = module.state_dict();
            foreach (var (name, original) in tensors.Where(t => t.Value.is_floating_point()))
            {
                using var expected = original.to(ScalarType.BFloat16);
                SampleTensors.AssertBitIdentical(expected, loaded[name]);
            }
        }
        finally
        {
            SampleTensors.Dispose(tensors);
        }
    }

    [Fact]
    public void Strict_load_lists_missing_unexpected_and_mismatched_keys_and_copies_nothing()
    {
        using var a = torch.ones(3, 2);
        using var b = torch.ones(4);
        using var d = torch.ones(1);
        HfCheckpoint.Save(_folder.Path, [new("block.a.weight", a), new("block.b.weight", b), new("extra.d.weight", d)]);
        using var checkpoint = HfCheckpoint.Open(_folder.Path);
        using var module = ParameterTree.Build([("block.a.weight", [2, 3]), ("block.b.weight", [4]), ("block.c.bias", [2])]);

        var error = Assert.Throws<QwenTuneException>(() => checkpoint.LoadInto(module));

        Assert.Contains(_folder.Path, error.Message);
        Assert.Contains("1 key(s) missing from the checkpoint:\n  block.c.bias\n", error.Message);
        Assert.Contains("1 key(s) unexpected (in the checkpoint, not in the model):\n  extra.d.weight\n", error.Message);
        Assert.Contains("1 key(s) with a different shape:\n  block.a.weight: model [2, 3], checkpoint [3, 2]", error.Message);
        Assert.Equal(0f, module.state_dict()["block.b.weight"].sum().item<float>());
    }

    [Fact]
    public void Strict_load_accepts_allowed_missing_and_ignored_keys()
    {
        using var embed = torch.full([5, 2], 2f);
        using var invFreq = torch.ones(2);
        HfCheckpoint.Save(_folder.Path, [new("model.embed.weight", embed), new("model.layers.0.rotary_emb.inv_freq", invFreq)]);
        using var checkpoint = HfCheckpoint.Open(_folder.Path);
        using var module = ParameterTree.Build([("model.embed.weight", [5, 2]), ("lm_head.weight", [5, 2])]);

        checkpoint.LoadInto(module, new StrictLoadOptions { AllowedMissing = ["lm_head.weight"], Ignored = ["*.rotary_emb.inv_freq"] });

        Assert.Equal(20f, module.state_dict()["model.embed.weight"].sum().item<float>());
        Assert.Equal(0f, module.state_dict()["lm_head.weight"].sum().item<float>());
    }

    [Fact]
    public void Persistent_buffers_are_loaded_and_non_persistent_ones_are_not_expected()
    {
        using var weight = torch.full([2], 3f);
        using var runningMean = torch.full([2], 5f);
        HfCheckpoint.Save(_folder.Path, [new("w", weight), new("running_mean", runningMean)]);
        using var checkpoint = HfCheckpoint.Open(_folder.Path);
        using var module = ParameterTree.Build([("w", [2])]);
        module.register_buffer("running_mean", torch.zeros(2));
        module.register_buffer("inv_freq", torch.zeros(2), persistent: false);

        checkpoint.LoadInto(module);

        Assert.Equal(new[] { 5f, 5f }, module.get_buffer("running_mean")!.data<float>().ToArray());
        Assert.Equal(new[] { 0f, 0f }, module.get_buffer("inv_freq")!.data<float>().ToArray());
    }

    [Fact]
    public void Long_key_lists_are_truncated_with_a_count()
    {
        using var x = torch.ones(1);
        HfCheckpoint.Save(_folder.Path, [new("x", x)]);
        using var checkpoint = HfCheckpoint.Open(_folder.Path);
        using var module = ParameterTree.Build(Enumerable.Range(0, 25).Select(i => ($"layers.{i:D2}.w", new long[] { 1 })).Append(("x", [1])));

        var error = Assert.Throws<QwenTuneException>(() => checkpoint.LoadInto(module));

        Assert.Contains("25 key(s) missing from the checkpoint:", error.Message);
        Assert.Contains("layers.19.w", error.Message);
        Assert.DoesNotContain("layers.20.w", error.Message);
        Assert.Contains("... and 5 more", error.Message);
    }

    [Fact]
    public void Missing_shard_is_reported()
    {
        SaveThreeShards();
        File.Delete(_folder.File("model-00002-of-00003.safetensors"));
        var error = Assert.Throws<QwenTuneException>(() => HfCheckpoint.Open(_folder.Path));
        Assert.Contains("shard model-00002-of-00003.safetensors (holding e.g. '", error.Message);
        Assert.Contains($"is missing from {_folder.Path}", error.Message);
    }

    [Fact]
    public void Index_entry_for_a_tensor_its_shard_lacks_is_reported()
    {
        SaveThreeShards();
        var indexPath = _folder.File(HfCheckpoint.IndexFileName);
        var index = JsonNode.Parse(File.ReadAllText(indexPath))!;
        index["weight_map"]!["model.ghost.weight"] = "model-00001-of-00003.safetensors";
        File.WriteAllText(indexPath, index.ToJsonString());

        var error = Assert.Throws<QwenTuneException>(() => HfCheckpoint.Open(_folder.Path));
        Assert.Contains("the index puts tensor 'model.ghost.weight' in model-00001-of-00003.safetensors, but that shard does not contain it", error.Message);
    }

    [Fact]
    public void Index_with_a_path_outside_the_folder_is_refused()
    {
        File.WriteAllText(_folder.File(HfCheckpoint.IndexFileName), """{"weight_map":{"w":"../elsewhere.safetensors"}}""");
        var error = Assert.Throws<QwenTuneException>(() => HfCheckpoint.Open(_folder.Path));
        Assert.Contains("weight_map entry 'w' must name a shard file in the same folder", error.Message);
    }

    [Fact]
    public void Pickle_only_folder_is_refused_with_conversion_advice()
    {
        File.WriteAllBytes(_folder.File("pytorch_model.bin"), [0x80, 0x02]);
        File.WriteAllText(_folder.File("config.json"), "{}");
        var error = Assert.Throws<QwenTuneException>(() => HfCheckpoint.Open(_folder.Path));
        Assert.Contains("holds only PyTorch pickle weights (pytorch_model.bin)", error.Message);
        Assert.Contains("save_pretrained('OUT', safe_serialization=True)", error.Message);
    }

    [Fact]
    public void Folder_without_weights_lists_what_it_holds()
    {
        File.WriteAllText(_folder.File("config.json"), "{}");
        var error = Assert.Throws<QwenTuneException>(() => HfCheckpoint.Open(_folder.Path));
        Assert.Contains("has no model.safetensors or model.safetensors.index.json (it holds config.json)", error.Message);
    }

    private void SaveThreeShards()
    {
        using var a = torch.ones(100);
        using var b = torch.ones(100);
        using var c = torch.ones(100);
        HfCheckpoint.Save(_folder.Path, [new("model.a.weight", a), new("model.b.weight", b), new("model.c.weight", c)], maxShardSize: 500);
        Assert.True(File.Exists(_folder.File("model-00003-of-00003.safetensors")));
    }

    // The index, read as plain JSON: total_size is the sum of tensor bytes, each shard holds exactly the tensors the
    // weight map assigns it, and no shard exceeds the limit unless it holds a single oversized tensor.
    private void AssertIndexDescribesShards(List<KeyValuePair<string, Tensor>> tensors, List<string> shardFiles, long maxShardSize)
    {
        using var index = JsonDocument.Parse(File.ReadAllBytes(_folder.File(HfCheckpoint.IndexFileName)));
        var expectedTotal = tensors.Sum(t => t.Value.NumberOfElements * t.Value.ElementSize);
        Assert.Equal(expectedTotal, index.RootElement.GetProperty("metadata").GetProperty("total_size").GetInt64());
        var weightMap = index.RootElement.GetProperty("weight_map").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
        Assert.Equal(tensors.Select(t => t.Key).Order(), weightMap.Keys.Order());
        foreach (var shard in shardFiles)
        {
            var (_, header, _) = RawSafeTensors.ReadHeader(_folder.File(shard));
            using (header)
            {
                var names = header.RootElement.EnumerateObject().Select(p => p.Name).Where(n => n != "__metadata__").ToList();
                Assert.Equal(weightMap.Where(p => p.Value == shard).Select(p => p.Key).Order(), names.Order());
                var bytes = tensors.Where(t => names.Contains(t.Key)).Sum(t => t.Value.NumberOfElements * t.Value.ElementSize);
                Assert.True(bytes <= maxShardSize || names.Count == 1, $"{shard} holds {bytes} bytes in {names.Count} tensors");
            }
        }
    }
}
