namespace QwenTune.Planning;

/// <summary>
/// Floating-point operations of one micro-batch's forward and backward. A matrix product costs 2 per weight and token
/// forward, 2 for the input gradient and 2 for the weight gradient (HF's 6 x parameters x tokens when everything
/// trains; a frozen base skips the weight gradient); checkpointing runs each layer's forward twice; the fused loss head
/// recomputes in backward the logits blocks past its kept budget (up to 8 instead of 6). Causal attention costs 2 x T^2 x Q per sample and layer forward
/// (QK^T and PV over the lower triangle) and twice that backward.
/// </summary>
public sealed record StepFlops(double Layers, double Attention, double Head)
{
    public double Total => Layers + Attention + Head;

    public static StepFlops For(TrainingShape shape) => For(shape, Training.FusedLinearCrossEntropy.KeptLogitsBytes.Value);

    /// <param name="keptLogitsBytes">The fused head's budget of forward logits kept for backward.</param>
    public static StepFlops For(TrainingShape shape, long keptLogitsBytes)
    {
        var counts = new ParameterCounts(shape.Config);
        var layers = shape.Config.NumHiddenLayers;
        double tokens = shape.Tokens;
        var recompute = shape.GradientCheckpointing || shape.ZeroStage == 3 ? 2 : 0;
        double layerMatmul;
        if (shape.BaseTrains)
        {
            layerMatmul = (6 + recompute) * layers * counts.LayerProjectionWeights;
        }
        else
        {
            var adapters = layers * counts.LoraPerLayer(shape.LoraTargets, shape.LoraRank);
            layerMatmul = (4 + recompute) * layers * counts.LayerProjectionWeights + (6 + recompute) * adapters;
        }
        double q = (double)shape.Config.NumAttentionHeads * shape.Config.HeadDim;
        var attentionForward = 2.0 * shape.MicroBatchSize * shape.SequenceLength * (double)shape.SequenceLength * q * layers;
        // bf16 on libtorch's bf16 products keeps the bf16 logits themselves; otherwise float32 (exp(x - m), or the block).
        var keptBytesPerLogit = shape.NativeBFloat16 ? 2.0 : 4.0;
        var logitsBytes = keptBytesPerLogit * tokens * shape.Config.VocabSize;
        var recomputed = logitsBytes <= 0 ? 0 : Math.Max(0, 1 - keptLogitsBytes / logitsBytes);
        var head = ((shape.BaseTrains ? 6 : 4) + 2 * recomputed) * counts.Embedding * tokens;
        return new StepFlops(layerMatmul * tokens, attentionForward * (3 + recompute / 2), head);
    }
}
