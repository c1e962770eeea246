using QwenTune.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Tests.Models;

public sealed class QwenModelTests
{
    [Fact]
    public void Parameter_names_are_hugging_face_keys()
    {
        var names = new QwenForCausalLM(TinyModels.Qwen3()).state_dict().Keys.ToHashSet();
        Assert.Contains("model.embed_tokens.weight", names);
        Assert.Contains("model.layers.1.self_attn.q_proj.weight", names);
        Assert.Contains("model.layers.1.self_attn.q_norm.weight", names);
        Assert.Contains("model.layers.0.mlp.down_proj.weight", names);
        Assert.Contains("model.layers.0.post_attention_layernorm.weight", names);
        Assert.Contains("model.norm.weight", names);
        Assert.Contains("lm_head.weight", names);
        Assert.DoesNotContain(names, n => n.Contains("inv_freq") || n.Contains("bias"));
        var tied = new QwenForCausalLM(TinyModels.Qwen2()).state_dict().Keys.ToHashSet();
        Assert.Contains("model.layers.0.self_attn.q_proj.bias", tied);
        Assert.DoesNotContain("model.layers.0.self_attn.o_proj.bias", tied);
        Assert.DoesNotContain("lm_head.weight", tied);
    }

    [Theory]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    public void Padding_on_either_side_leaves_real_token_logits_unchanged(string type)
    {
        var config = type == "qwen2" ? TinyModels.Qwen2() : TinyModels.Qwen3();
        var model = TinyModels.Create(config);
        using var noGrad = no_grad();
        var ids = tensor(new long[] { 5, 17, 42, 9, 77, 3 }).unsqueeze(0);
        var alone = model.Logits(model.Hidden(ids));                               // (1, 6, V)
        var padded = tensor(new long[] { 0, 0, 5, 17, 42, 9, 77, 3, 0, 0 }).unsqueeze(0);
        var left = model.Logits(model.Hidden(padded[.., ..8], tensor(new long[] { 0, 0, 1, 1, 1, 1, 1, 1 }).unsqueeze(0)));
        var right = model.Logits(model.Hidden(padded[.., 2..], tensor(new long[] { 1, 1, 1, 1, 1, 1, 0, 0 }).unsqueeze(0)));
        Assert.True(left[.., 2..].allclose(alone, rtol: 1e-4, atol: 1e-5), "left padding changed the logits");
        Assert.True(right[.., ..6].allclose(alone, rtol: 1e-4, atol: 1e-5), "right padding changed the logits");
    }

    [Fact]
    public void Rotary_inverse_frequencies_follow_theta_power_law()
    {
        var config = TinyModels.Qwen3() with { RopeTheta = 1_000_000 };
        var rotary = new RotaryEmbedding(config, CPU);
        var (cos, sin) = rotary.Compute(tensor(new long[] { 3 }).unsqueeze(0), ScalarType.Float64);
        var d = config.HeadDim;
        for (var i = 0; i < d / 2; i++)
        {
            var angle = 3.0 / Math.Pow(1_000_000, 2.0 * i / d);
            Assert.Equal(Math.Cos(angle), cos[0, 0, 0, i].item<double>(), 5);
            Assert.Equal(Math.Sin(angle), sin[0, 0, 0, i + d / 2].item<double>(), 5);
        }
    }
}
