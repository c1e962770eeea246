using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// Per-layer activation checkpointing (TorchSharp has no torch.utils.checkpoint): forward runs the decoder
/// layer without recording a graph and keeps only its input; backward re-runs the layer with the random
/// state it first saw (so dropout draws the same masks) and back-propagates through the recomputation,
/// which accumulates the layer's parameter gradients and yields the input gradient. Gradients are identical
/// to the uncheckpointed ones. With an <see cref="ILayerParameters"/> (ZeRO), the layer's parameters are gathered
/// for the forward and again for the recomputation, released after each, and the optimizer hears when the layer's
/// gradients are complete.
/// </summary>
public sealed class CheckpointedLayer : autograd.SingleTensorFunction<CheckpointedLayer>
{
    public override string Name => nameof(CheckpointedLayer);

    /// <summary>Installs checkpointing on every layer of <paramref name="model"/>.</summary>
    public static void Enable(QwenModel model, ILayerParameters? parameters = null)
    {
        model.LayerRunner = (layer, hidden, inputs) => hidden.requires_grad
            ? apply(layer, hidden, inputs, model, parameters!)
            : RunGathered(layer, hidden, inputs, parameters);
    }

    private static Tensor RunGathered(QwenDecoderLayer layer, Tensor hidden, AttentionInputs inputs, ILayerParameters? parameters)
    {
        parameters?.Gather(layer);
        try
        {
            return layer.call(hidden, inputs);
        }
        finally
        {
            parameters?.Release(layer);
        }
    }

    public static void Disable(QwenModel model) =>
        model.LayerRunner = (layer, hidden, inputs) => layer.call(hidden, inputs);

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var layer = (QwenDecoderLayer)vars[0];
        var hidden = (Tensor)vars[1];
        var inputs = (AttentionInputs)vars[2];
        var generator = ((QwenModel)vars[3]).RandomGenerator;
        var parameters = vars.Length > 4 ? vars[4] as ILayerParameters : null;
        List<Tensor> saved = [hidden, inputs.Cos, inputs.Sin];
        if (inputs.Mask is not null)
            saved.Add(inputs.Mask);
        ctx.save_for_backward(saved);
        ctx.save_data("layer", layer);
        ctx.save_data("generator", generator);
        ctx.save_data("parameters", parameters!);
        // Kept as managed bytes: a tensor made here would die with the caller's dispose scope before backward.
        using (var rng = generator?.get_state() ?? get_rng_state())
            ctx.save_data("rng", rng.bytes.ToArray());
        using var noGrad = no_grad();
        return RunGathered(layer, hidden, inputs, parameters);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var saved = ctx.get_saved_variables();
        var layer = (QwenDecoderLayer)ctx.get_data("layer");
        var generator = (Generator?)ctx.get_data("generator");
        var parameters = ctx.get_data("parameters") as ILayerParameters;
        var inputs = new AttentionInputs(saved[1], saved[2], saved.Count > 3 ? saved[3] : null);
        var input = saved[0].detach().requires_grad_(true);
        using var currentRng = generator?.get_state() ?? get_rng_state();
        using (var forwardRng = tensor((byte[])ctx.get_data("rng"), ScalarType.Byte))
            SetState(generator, forwardRng);
        parameters?.Gather(layer);
        try
        {
            using var enableGrad = enable_grad();
            using var output = layer.call(input, inputs);
            autograd.backward([output], [gradOutput]);
        }
        finally
        {
            SetState(generator, currentRng);
            parameters?.Release(layer);
        }
        parameters?.GradientsReady(layer);
        return [null!, input.grad!, null!, null!, null!];
    }

    private static void SetState(Generator? generator, Tensor state)
    {
        if (generator is null)
            set_rng_state(state);
        else
            generator.set_state(state);
    }
}
