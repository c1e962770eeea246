using QwenTune.Models;
using QwenTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Tests.Training;

public sealed class GradientCheckpointingTests
{
    private static Dictionary<string, Tensor> Gradients(QwenForCausalLM model, Tensor ids, Tensor labels)
    {
        foreach (var p in model.parameters())
            p.grad = null;
        var hidden = model.Hidden(ids);
        var (nll, count) = CausalLmLoss.NllSum(hidden, labels, model.LmHeadWeight);
        (nll / count).backward();
        return model.named_parameters()
            .Where(p => p.parameter.grad is not null)
            .ToDictionary(p => p.name, p => p.parameter.grad!.clone());
    }

    [Theory]
    [InlineData("qwen2")]
    [InlineData("qwen3")]
    public void Checkpointed_gradients_equal_plain_gradients(string type)
    {
        var config = type == "qwen2" ? TinyModels.Qwen2() : TinyModels.Qwen3();
        var model = TinyModels.Create(config);
        var ids = randint(0, config.VocabSize, [2, 12], generator: new Generator(3));
        var labels = ids.clone();
        labels[0, ..4] = tensor(-100L);
        var plain = Gradients(model, ids, labels);
        CheckpointedLayer.Enable(model.Model);
        var checkpointed = Gradients(model, ids, labels);
        Assert.Equal(plain.Keys.Order(), checkpointed.Keys.Order());
        foreach (var (name, grad) in plain)
            Assert.True(grad.allclose(checkpointed[name], rtol: 1e-6, atol: 1e-7), $"gradient of {name} differs");
    }

    [Fact]
    public void Frozen_embeddings_need_input_require_grad_for_layer_gradients()
    {
        var config = TinyModels.Qwen2();
        var model = TinyModels.Create(config);
        var reference = Gradients(model, arange(10).unsqueeze(0), arange(10).unsqueeze(0));
        model.Model.EmbedTokens.weight!.requires_grad_(false);
        CheckpointedLayer.Enable(model.Model);
        model.Model.InputRequiresGrad = true;
        var ids = arange(10).unsqueeze(0);
        var grads = Gradients(model, ids, ids.clone());
        Assert.DoesNotContain("model.embed_tokens.weight", grads.Keys);
        var name = "model.layers.0.self_attn.q_proj.weight";
        Assert.True(grads[name].allclose(reference[name], rtol: 1e-6, atol: 1e-7));
    }
}
