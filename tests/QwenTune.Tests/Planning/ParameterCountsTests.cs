using QwenTune.Peft;
using QwenTune.Planning;

namespace QwenTune.Tests.Planning;

/// <summary>Parameter counts from config.json alone, against hand arithmetic and the model QwenForCausalLM really builds.</summary>
public sealed class ParameterCountsTests
{
    [Fact]
    public void Tiny_qwen2_counts_match_hand_arithmetic_and_the_built_model()
    {
        // hidden 32, intermediate 64, 2 layers, 4 heads of 8, 2 kv heads (k/v width 16), vocab 300, tied, q/k/v biases:
        // per layer q 32*32+32, k 32*16+16, v 32*16+16, o 32*32, three MLP 32*64, two norms of 32 = 9344;
        // embedding 300*32 = 9600, final norm 32: 9600 + 32 + 2 * 9344 = 28320.
        var config = TinyModels.Qwen2();
        var counts = new ParameterCounts(config);
        Assert.Equal(9344, counts.PerLayer);
        Assert.Equal(0, counts.LmHead);
        Assert.Equal(28320, counts.Total);
        using var model = TinyModels.Create(config);
        Assert.Equal(model.parameters().Sum(p => p.numel()), counts.Total);
    }

    [Fact]
    public void Tiny_qwen3_counts_head_dim_norms_and_an_untied_head()
    {
        // head_dim 16: q 32*64, k 32*32, v 32*32, o 64*32, MLP 3*2048, norms 64 + q_norm/k_norm 2*16 = 12384 a layer;
        // embedding and lm_head 9600 each, final norm 32: 19232 + 2 * 12384 = 44000.
        var config = TinyModels.Qwen3();
        var counts = new ParameterCounts(config);
        Assert.Equal(12384, counts.PerLayer);
        Assert.Equal(44000, counts.Total);
        using var model = TinyModels.Create(config);
        Assert.Equal(model.parameters().Sum(p => p.numel()), counts.Total);
    }

    [Fact]
    public void Lora_counts_match_hand_arithmetic_and_the_injected_adapters()
    {
        // r 4: q 4*(32+32), k 4*(32+16), v 4*(32+16), o 4*(32+32), gate and up 4*(32+64), down 4*(64+32) = 2048 a layer.
        var config = TinyModels.Qwen2();
        var counts = new ParameterCounts(config);
        Assert.Equal(2048, counts.LoraPerLayer(LoraConfig.AllProjections, 4));
        Assert.Equal(4 * (32 + 32) + 4 * (32 + 16), counts.LoraPerLayer(["q_proj", "v_proj"], 4));
        using var model = TinyModels.Create(config);
        LoraInjector.Apply(model, new LoraConfig { R = 4, Bias = "lora_only", TargetModules = ["q_proj", "k_proj", "gate_proj"] }, seed: 1);
        var trainable = model.parameters().Where(p => p.requires_grad).Sum(p => p.numel());
        var targets = new[] { "q_proj", "k_proj", "gate_proj" };
        Assert.Equal(config.NumHiddenLayers * (counts.LoraPerLayer(targets, 4) + counts.TrainableBiasesPerLayer(targets, "lora_only")), trainable);
        Assert.Equal(32 + 16, counts.TrainableBiasesPerLayer(targets, "lora_only"));
    }

    [Fact]
    public void Nf4_bytes_match_the_quantised_storage()
    {
        foreach (var (rows, columns) in new[] { (64L, 32L), (96L, 200L), (3L, 7L) })
        {
            using var weight = TorchSharp.torch.randn(rows, columns);
            using var quantized = QwenTune.Quantization.Nf4Tensor.Quantize(weight);
            Assert.Equal(quantized.StorageBytes, ParameterCounts.Nf4Bytes(rows * columns));
        }
    }
}
