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

    /// <summary>
    /// A tied embedding's lookup hands back only the rows it used (a sparse gradient, added into the head's dense
    /// one), where a dense lookup gradient would cost a vocabulary-sized zeros and sum per micro-batch. The same model
    /// untied, lm_head a copy of the embeddings, gives the reference: the tied gradient is its two dense gradients'
    /// sum, and comes out dense.
    /// </summary>
    [Theory]
    [InlineData(ScalarType.Float32, 1e-6)]
    [InlineData(ScalarType.BFloat16, 2e-2)]
    public void A_tied_embeddings_gradient_is_the_sum_of_the_untied_heads_and_lookups(ScalarType dtype, double tolerance)
    {
        var config = TinyModels.Qwen2(vocab: 97);
        var tied = TinyModels.Create(config, seed: 3);
        var untied = TinyModels.Create(config with { TieWordEmbeddings = false }, seed: 3);
        using (no_grad())
        {
            foreach (var (name, parameter) in tied.named_parameters())
                untied.get_parameter(name)!.copy_(parameter);
            untied.get_parameter("lm_head.weight")!.copy_(tied.get_parameter("model.embed_tokens.weight")!);
        }
        tied.to(dtype);
        untied.to(dtype);
        var ids = randint(97, [2, 11], generator: new Generator(8));          // repeated ids: rows the lookup adds twice
        ids[0, 3] = ids[0, 1];
        ids[1, 7] = ids[0, 1];
        Loss(tied, ids).backward();
        Loss(untied, ids).backward();

        var gradient = tied.get_parameter("model.embed_tokens.weight")!.grad!;
        Assert.False(gradient.is_sparse);
        var expected = untied.get_parameter("model.embed_tokens.weight")!.grad!.to(ScalarType.Float32)
                       + untied.get_parameter("lm_head.weight")!.grad!.to(ScalarType.Float32);
        var scale = expected.abs().max().item<float>();
        var worst = (gradient.to(ScalarType.Float32) - expected).abs().max().item<float>();
        Assert.True(worst <= tolerance * scale, $"largest difference {worst:E3} against a largest element of {scale:E3}");
        // The rows the lookup used carry its part (a row no token uses has only the head's).
        Assert.True(untied.get_parameter("model.embed_tokens.weight")!.grad![ids[0, 1]].to(ScalarType.Float32).abs().sum().item<float>() > 0);
    }

    private static Tensor Loss(QwenForCausalLM model, Tensor ids)
    {
        var hidden = model.Hidden(ids);
        return QwenTune.Training.CausalLmLoss.NllSum(hidden, ids, model.LmHeadWeight).NllSum;
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
