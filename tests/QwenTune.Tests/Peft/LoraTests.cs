using System.Text.Json;
using QwenTune.Checkpoints;
using QwenTune.Models;
using QwenTune.Peft;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Tests.Peft;

public sealed class LoraTests
{
    private static readonly LoraConfig Config = new() { R = 4, Alpha = 8, Dropout = 0.0 };

    private static Tensor Ids => tensor(new long[] { 3, 14, 15, 92, 65, 35 }).unsqueeze(0);

    private static void RandomiseB(QwenForCausalLM model)
    {
        using var noGrad = no_grad();
        var generator = new Generator(11);
        foreach (var (_, module) in model.named_modules())
        {
            if (module is QwenLinear { LoraB: { } b })
                b.weight!.normal_(0, 0.1, generator);
        }
    }

    [Fact]
    public void Fresh_adapter_with_zero_B_leaves_outputs_unchanged()
    {
        var model = TinyModels.Create(TinyModels.Qwen2());
        using var noGrad = no_grad();
        var before = model.call(Ids);
        LoraInjector.Apply(model, Config, seed: 1);
        var after = model.call(Ids);
        Assert.True(before.eq(after).all().item<bool>(), "B = 0 must leave the output bit-identical");
    }

    [Fact]
    public void Lora_update_equals_scaled_B_times_A_on_the_input()
    {
        var layer = new QwenLinear(6, 5, hasBias: true, ScalarType.Float32, CPU);
        using var noGrad = no_grad();
        layer.Weight!.normal_(0, 1, new Generator(2));
        var rslora = Config with { UseRslora = true };
        layer.AddLora(rslora.R, rslora.Scaling, rslora.Dropout, new Generator(3));
        layer.LoraB!.weight!.normal_(0, 1, new Generator(4));
        var x = randn([2, 6], generator: new Generator(5));
        var expected = x.matmul(layer.Weight!.t()) + layer.Bias! +
                       x.matmul(layer.LoraA!.weight!.t()).matmul(layer.LoraB.weight!.t()) * (8 / Math.Sqrt(4));
        Assert.True(layer.call(x).allclose(expected, rtol: 1e-5, atol: 1e-6));
        Assert.Equal(8 / Math.Sqrt(4), layer.LoraScaling);
        // PEFT's init: A ~ U(-1/sqrt(in), 1/sqrt(in)).
        Assert.True(layer.LoraA.weight!.abs().max().item<float>() <= 1 / Math.Sqrt(6));
    }

    /// <summary>
    /// A power-of-two scaling is folded into B rather than multiplying the update (PEFT's order): the output and every
    /// gradient keep PEFT's bits, in bf16 as in float32; a scaling that is no power of two still multiplies the update.
    /// </summary>
    [Theory]
    [InlineData(ScalarType.BFloat16, 0.25)]
    [InlineData(ScalarType.BFloat16, 2.0)]
    [InlineData(ScalarType.BFloat16, 1.0)]
    [InlineData(ScalarType.BFloat16, 0.3)]
    [InlineData(ScalarType.Float32, 0.25)]
    [InlineData(ScalarType.Float32, 0.3)]
    public void The_update_keeps_PEFTs_bits_whatever_the_scaling(ScalarType dtype, double scaling)
    {
        var layer = new QwenLinear(96, 80, hasBias: false, dtype, CPU);
        using (no_grad())
        {
            layer.Weight!.normal_(0, 0.1, new Generator(2));
            layer.AddLora(rank: 8, scaling, dropout: 0.0, new Generator(3));
            layer.LoraB!.weight!.normal_(0, 0.1, new Generator(4));
        }
        var x = randn([3, 7, 96], generator: new Generator(5)).to(dtype).requires_grad_(true);
        var upstream = randn([3, 7, 80], generator: new Generator(6)).to(dtype);
        layer.call(x).backward([upstream]);
        var (output, gradX, gradA, gradB) = (layer.call(x).detach(), x.grad!.clone(), layer.LoraA!.weight!.grad!.clone(), layer.LoraB!.weight!.grad!.clone());

        // PEFT: result + lora_B(lora_A(x)) * scaling, the adapters computing in the activations' dtype.
        var (a, b) = (layer.LoraA.weight!.detach().requires_grad_(true), layer.LoraB.weight!.detach().requires_grad_(true));
        var x2 = x.detach().requires_grad_(true);
        var down = BFloat16Products.Linear(x2, a.to(dtype));
        var expected = BFloat16Products.Linear(x2, layer.Weight!.detach()) + BFloat16Products.Linear(down, b.to(dtype)) * scaling;
        expected.backward([upstream]);
        Assert.True(expected.detach().equal(output).all().item<bool>(), "output");
        Assert.True(x2.grad!.equal(gradX).all().item<bool>(), "input gradient");
        Assert.True(a.grad!.equal(gradA).all().item<bool>(), "lora_A gradient");
        Assert.True(b.grad!.equal(gradB).all().item<bool>(), "lora_B gradient");
    }

    [Fact]
    public void Lora_dropout_drops_the_configured_fraction_in_training_only()
    {
        var layer = new QwenLinear(2000, 1, hasBias: false, ScalarType.Float32, CPU);
        using var noGrad = no_grad();
        layer.Weight!.zero_();
        layer.AddLora(rank: 1, scaling: 1.0, dropout: 0.25, new Generator(1));
        // A = identity on the first input only is not possible with r = 1, so probe through B(A(x)) with A = 1, B = 1.
        layer.LoraA!.weight!.fill_(1.0);
        layer.LoraB!.weight!.fill_(1.0);
        var x = ones([400, 2000]);
        layer.train();
        var trained = layer.call(x);                       // each row: (number kept) / (1 - p)
        var kept = trained / (1.0 / 0.75);
        Assert.Equal(0.75 * 2000, kept.mean().item<float>(), 2000 * 0.002);
        Assert.True(kept.sub(kept.round()).abs().max().item<float>() < 1e-2, "outputs must be whole counts of kept inputs, rescaled");
        layer.eval();
        Assert.True(layer.call(x).eq(2000f).all().item<bool>(), "no dropout in eval mode");
    }

    [Fact]
    public void Dropout_masks_come_from_the_model_generator_not_the_global_one()
    {
        Tensor TrainingOutput(bool disturbGlobalRng)
        {
            var model = TinyModels.Create(TinyModels.Qwen2());
            LoraInjector.Apply(model, Config with { Dropout = 0.3 }, seed: 5);
            RandomiseB(model);
            model.train();
            if (disturbGlobalRng)
                randn(1000).Dispose();
            using var noGrad = no_grad();
            return model.call(Ids);
        }
        var quiet = TrainingOutput(false);
        Assert.True(quiet.eq(TrainingOutput(true)).all().item<bool>());
    }

    [Theory]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    public void Merged_weights_score_the_same_as_base_plus_adapter(string type)
    {
        var config = type == "qwen2" ? TinyModels.Qwen2() : TinyModels.Qwen3();
        var model = TinyModels.Create(config);
        LoraInjector.Apply(model, Config, seed: 1);
        RandomiseB(model);
        using var noGrad = no_grad();
        var unmerged = model.call(Ids);
        var merged = TinyModels.Create(config);
        var mergedWeights = model.named_modules()
            .Where(m => m.module is QwenLinear)
            .ToDictionary(m => m.name + ".weight", m => ((QwenLinear)m.module).MergedWeight());
        foreach (var (name, parameter) in merged.named_parameters())
        {
            if (mergedWeights.TryGetValue(name, out var w))
                parameter.copy_(w);
        }
        Assert.True(merged.call(Ids).allclose(unmerged, rtol: 1e-4, atol: 1e-5));
        Assert.False(TinyModels.Create(config).call(Ids).allclose(unmerged, rtol: 1e-4, atol: 1e-5), "the adapter must matter");
    }

    [Fact]
    public void Only_adapters_train_and_the_count_line_matches_peft_format()
    {
        var model = TinyModels.Create(TinyModels.Qwen2());
        LoraInjector.Apply(model, Config, seed: 1);
        var trainable = model.named_parameters().Where(p => p.parameter.requires_grad).Select(p => p.name).ToList();
        Assert.All(trainable, n => Assert.Matches(@"\.lora_[AB]\.weight$", n));
        // 2 layers x 7 projections x 2 matrices.
        Assert.Equal(28, trainable.Count);
        var expected = model.named_parameters().Where(p => p.parameter.requires_grad).Sum(p => p.parameter.numel());
        var all = model.parameters().Sum(p => p.numel());
        Assert.Equal($"trainable params: {expected:N0} || all params: {all:N0} || trainable%: {100.0 * expected / all:F4}",
            LoraInjector.TrainableParametersLine(model));
    }

    [Theory]
    [InlineData("none", 0)]
    [InlineData("all", 6)]          // q, k, v biases of both layers
    [InlineData("lora_only", 2)]    // only q_proj is adapted: its bias in both layers
    public void Bias_modes_train_and_save_the_right_biases(string mode, int expectedBiases)
    {
        var model = TinyModels.Create(TinyModels.Qwen2());
        var config = Config with { Bias = mode, TargetModules = ["q_proj", "o_proj"] };
        LoraInjector.Apply(model, config, seed: 1);
        var saved = PeftAdapter.AdapterState(model, config).Select(kv => kv.Key).ToList();
        var biases = saved.Where(k => k.EndsWith(".bias", StringComparison.Ordinal)).ToList();
        Assert.Equal(expectedBiases, biases.Count);
        if (mode == "lora_only")
            Assert.All(biases, b => Assert.Contains(".q_proj.bias", b));
        var trainableBiases = model.named_parameters().Count(p => p.parameter.requires_grad && p.name.EndsWith(".bias"));
        Assert.Equal(expectedBiases, trainableBiases);
    }

    [Fact]
    public void Adapter_folder_has_peft_layout_and_round_trips()
    {
        using var folder = new TempFolder();
        var model = TinyModels.Create(TinyModels.Qwen2());
        LoraInjector.Apply(model, Config, seed: 1);
        RandomiseB(model);
        PeftAdapter.Save(folder.Path, model, Config, "Qwen/Qwen2.5-0.5B-Instruct");

        using var reader = SafeTensorsReader.Open(Path.Combine(folder.Path, "adapter_model.safetensors"));
        var a = reader.GetEntry("base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight");
        var b = reader.GetEntry("base_model.model.model.layers.0.self_attn.q_proj.lora_B.weight");
        Assert.Equal(new long[] { 4, 32 }, a.Shape);                  // [r, in]
        Assert.Equal(new long[] { 32, 4 }, b.Shape);                  // [out, r]
        Assert.Equal(ScalarType.Float32, a.DType);
        Assert.Equal(28, reader.Entries.Count);
        Assert.All(reader.Entries, e => Assert.StartsWith("base_model.model.model.layers.", e.Name));

        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(folder.Path, "adapter_config.json")));
        var root = json.RootElement;
        Assert.Equal("LORA", root.GetProperty("peft_type").GetString());
        Assert.Equal("CAUSAL_LM", root.GetProperty("task_type").GetString());
        Assert.Equal(4, root.GetProperty("r").GetInt32());
        Assert.Equal(8, root.GetProperty("lora_alpha").GetDouble());
        Assert.Equal("none", root.GetProperty("bias").GetString());
        Assert.False(root.GetProperty("use_rslora").GetBoolean());
        Assert.Equal("Qwen/Qwen2.5-0.5B-Instruct", root.GetProperty("base_model_name_or_path").GetString());
        Assert.Equal(7, root.GetProperty("target_modules").GetArrayLength());

        var reloaded = TinyModels.Create(TinyModels.Qwen2());
        var config = PeftAdapter.ReadConfig(folder.Path);
        Assert.Equal(Config with { TargetModules = config.TargetModules }, config);
        LoraInjector.Apply(reloaded, config, seed: 99);
        PeftAdapter.LoadWeights(folder.Path, reloaded, config);
        using var noGrad = no_grad();
        Assert.True(reloaded.call(Ids).eq(model.call(Ids)).all().item<bool>());
    }
}
