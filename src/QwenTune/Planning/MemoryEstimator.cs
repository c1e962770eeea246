using QwenTune.Models;

namespace QwenTune.Planning;

/// <summary>
/// Memory of one training step per rank, from the tensors this code base keeps (not a generic rule of thumb): what
/// autograd saves in <see cref="QwenDecoderLayer"/>'s forward, what <c>CheckpointedLayer</c> keeps instead, the blocks
/// of <c>FusedLinearCrossEntropy</c>, and the state of <c>AdamWUpdater</c> (one process) or <c>ZeroUpdater</c> (several
/// ranks). N is the tokens of a micro-batch, C hidden, Q = heads x head_dim, I intermediate, s the dtype's bytes.
/// </summary>
public static class MemoryEstimator
{
    public static MemoryEstimate Estimate(TrainingShape shape)
    {
        var counts = new ParameterCounts(shape.Config);
        var layers = shape.Config.NumHiddenLayers;
        var s = shape.ElementBytes;
        var trainable = Trainable(shape, counts);
        var layerTrainable = trainable.PerLayer;
        var outsideTrainable = trainable.Total - layers * layerTrainable;
        var checkpointed = shape.GradientCheckpointing || shape.ZeroStage == 3;   // ZeRO-3 always runs layers through CheckpointedLayer

        var perLayer = LayerActivations(shape, counts);
        var keptPerLayer = 2L * s * shape.Tokens * shape.Config.HiddenSize;
        var activations = (checkpointed ? layers * keptPerLayer + perLayer : layers * perLayer)
                          + OutsideLayerActivations(shape) + BackwardInFlight(shape);
        var lossHead = LossHeadWorking(shape);
        // The head's weight gradient (lm_head, or the tied embedding) exists from the head's backward on.
        var headGradient = shape.BaseTrains ? (long)s * counts.Embedding : 0;

        long weights, optimizer, gradients, stepWorking, peak;
        if (shape.WorldSize == 1)
        {
            weights = Weights(shape, counts);
            // AdamWUpdater: float32 moments for every trainable tensor, a float32 master beside each non-float32 one.
            optimizer = 8 * trainable.Total + (s == 4 ? 0 : 4 * trainable.InModelDtype);
            gradients = trainable.GradientBytes;
            // Step: the float32 copy of one gradient and the denominator, for the largest trainable tensor at a time.
            stepWorking = 8 * trainable.Largest;
            peak = weights + optimizer + Math.Max(activations + lossHead + headGradient, gradients + Math.Max(stepWorking, TiedEmbeddingGradient(shape, counts)));
        }
        else
        {
            var partitions = shape.ZeroStage == 0 ? 1 : shape.WorldSize;
            long Shard(long n) => (n + partitions - 1) / partitions;
            var (resident, gathered) = ZeroWeights(shape, counts);
            weights = resident + gathered;
            // ZeroUpdater: float32 master, two moments and the reduced float32 gradient of this rank's shard, every group.
            optimizer = 12 * Shard(trainable.Total);
            var gradientShard = 4 * Shard(trainable.Total);
            // Parameters' own gradients live until the all-reduce at the step (stages 0, 1), the reduce-scatter after the
            // micro-batch (stage 2), or the end of their layer's backward (stage 2 with checkpointing, stage 3).
            var perLayerRelease = shape.ZeroStage == 3 || (shape.ZeroStage == 2 && checkpointed);
            var parameterGradients = perLayerRelease
                ? trainable.GradientBytes * (layerTrainable + outsideTrainable) / Math.Max(1, trainable.Total)
                : trainable.GradientBytes;
            gradients = gradientShard + parameterGradients;
            // One float32 all-reduce bucket, or one reduce-scatter piece: world x piece in, piece out.
            stepWorking = shape.ZeroStage <= 1
                ? 4 * Math.Min(shape.ReduceBucketSize, trainable.Total)
                : 4L * (shape.WorldSize + 1) * Math.Min(Shard(trainable.Total), Math.Max(1, shape.ReduceBucketSize / shape.WorldSize));
            peak = resident + optimizer + gradientShard
                   + Math.Max(gathered + activations + lossHead + headGradient, parameterGradients + stepWorking);
        }
        return new MemoryEstimate
        {
            TotalParameters = counts.Total + (shape.Mode == TuningMode.Full ? 0 : layers * counts.LoraPerLayer(shape.LoraTargets, shape.LoraRank)),
            TrainableParameters = trainable.Total,
            Weights = weights,
            Gradients = gradients,
            OptimizerState = optimizer,
            Activations = activations,
            ActivationsPerLayer = perLayer,
            CheckpointedPerLayer = keptPerLayer,
            LossHead = lossHead,
            StepWorking = stepWorking,
            Peak = peak,
        };
    }

    /// <summary>What trains: element counts, how many are in the model's dtype (the rest are float32 adapters), gradient bytes.</summary>
    private sealed record TrainableCounts(long Total, long PerLayer, long InModelDtype, long Largest, long GradientBytes);

    private static TrainableCounts Trainable(TrainingShape shape, ParameterCounts counts)
    {
        var layers = shape.Config.NumHiddenLayers;
        var s = shape.ElementBytes;
        if (shape.BaseTrains)
        {
            var largest = Math.Max(counts.Embedding, counts.Projections.Max(p => p.WeightCount));
            return new(counts.Total, counts.PerLayer, counts.Total, largest, s * counts.Total);
        }
        var lora = counts.LoraPerLayer(shape.LoraTargets, shape.LoraRank);
        var biases = counts.TrainableBiasesPerLayer(shape.LoraTargets, shape.LoraBias);
        var largestAdapter = counts.Projections.Where(p => shape.LoraTargets.Contains(p.Name))
            .Select(p => shape.LoraRank * Math.Max(p.In, p.Out)).DefaultIfEmpty(0).Max();
        // Adapters are float32 whatever the base (PEFT's autocast_adapter_dtype); biases keep the model's dtype.
        return new(layers * (lora + biases), lora + biases, layers * biases, largestAdapter, layers * (4 * lora + s * biases));
    }

    private static long Weights(TrainingShape shape, ParameterCounts counts)
    {
        var s = shape.ElementBytes;
        var layers = shape.Config.NumHiddenLayers;
        var adapters = shape.Mode == TuningMode.Full ? 0 : 4L * layers * counts.LoraPerLayer(shape.LoraTargets, shape.LoraRank);
        if (shape.Mode != TuningMode.QLora)
            return (long)s * counts.Total + adapters;
        // Q-LoRA: NF4 projections, float32 norms (prepare_model_for_kbit_training), embeddings, head and biases dense.
        var projections = counts.Projections.Sum(p => ParameterCounts.Nf4Bytes(p.WeightCount));
        var perLayer = projections + s * counts.LayerBiases + 4 * counts.LayerNorms;
        return layers * perLayer + s * (counts.Embedding + counts.LmHead) + 4 * counts.FinalNorm + adapters;
    }

    /// <summary>
    /// ZeRO-3: layer tensors of at least the persistence threshold are sharded (float32 trainable ones live in their master
    /// shard, counted as optimizer state), one layer is whole while it runs; stages 0-2 keep every weight.
    /// </summary>
    private static (long Resident, long Gathered) ZeroWeights(TrainingShape shape, ParameterCounts counts)
    {
        var all = Weights(shape, counts);
        if (shape.ZeroStage != 3)
            return (all, 0);
        var s = shape.ElementBytes;
        var sharded = counts.Projections.Where(p => p.WeightCount >= shape.PersistenceThreshold).Sum(p => p.WeightCount)
                      + counts.Projections.Where(p => p.BiasCount >= shape.PersistenceThreshold).Sum(p => p.BiasCount);
        var layerBytes = (long)s * sharded;
        var ownCopy = shape.BaseTrains && s == 4 ? 0 : (long)s * ((sharded + shape.WorldSize - 1) / shape.WorldSize);
        var resident = all - shape.Config.NumHiddenLayers * (layerBytes - ownCopy);
        return (resident, layerBytes);
    }

    /// <summary>
    /// What autograd keeps from one decoder layer's forward until its backward, as the modules compute:
    /// RmsNorm keeps its float32 input for pow and the rsqrt product (the input itself when float32) and, when its weight
    /// trains, the normalised values; a trained projection keeps its input; SDPA keeps q, k, v (k and v repeated to all
    /// heads) and its output; SwiGLU keeps gate (silu's input), silu(gate) and up (the product's operands). Rotary
    /// embedding keeps only cos/sin, repeat_interleave nothing. A frozen dense or NF4 projection keeps nothing; a LoRA
    /// adapter keeps its dropped input for lora_A (the mask is recomputed in backward), and the rank-r product for lora_B.
    /// </summary>
    public static long LayerActivations(TrainingShape shape, ParameterCounts counts)
    {
        var config = shape.Config;
        long n = shape.Tokens, s = shape.ElementBytes, c = config.HiddenSize, i = config.IntermediateSize;
        long q = (long)config.NumAttentionHeads * config.HeadDim, kv = (long)config.KeyValueHeads * config.HeadDim;
        var trains = shape.BaseTrains;
        // input_layernorm, post_attention_layernorm: float32 input; normalised values and the output the projections read.
        var norms = 2 * n * c * (4 + (trains ? 2 * s : 0));
        var headNorms = config.IsQwen3 ? n * (q + kv) * (4 + (trains ? s : 0)) : 0;
        var attention = 4 * s * n * q + (trains ? s * n * q : 0);   // q, k, v, output; o_proj's input when it trains
        var mlp = 3 * s * n * i + (trains ? s * n * i : 0);         // gate, silu(gate), up; down_proj's input when it trains
        // bf16 attention over a short sequence keeps its weights for backward: float32 softmax and its bf16 copy.
        var weights = (long)shape.MicroBatchSize * config.NumAttentionHeads * shape.SequenceLength * shape.SequenceLength;
        var attentionWeights = shape.NativeBFloat16 && weights <= Models.BFloat16Products.ComposedAttentionWeights ? 6 * weights : 0;
        return norms + headNorms + attention + attentionWeights + mlp + (trains ? 0 : Adapters(shape, counts));
    }

    private static long Adapters(TrainingShape shape, ParameterCounts counts)
    {
        long n = shape.Tokens, s = shape.ElementBytes;
        var targets = counts.Projections.Where(p => shape.LoraTargets.Contains(p.Name)).ToList();
        var products = targets.Count * s * n * shape.LoraRank;
        if (shape.LoraDropout > 0)
            return products + targets.Sum(p => n * p.In * s);   // each adapter drops its own copy of its input
        // Without dropout lora_A reads the projection's input itself, shared by projections that read the same tensor.
        static string Source(string name) => name switch
        {
            "q_proj" or "k_proj" or "v_proj" => "attention input",
            "gate_proj" or "up_proj" => "mlp input",
            _ => name,
        };
        return products + targets.GroupBy(p => Source(p.Name)).Sum(g => s * n * g.First().In);
    }

    /// <summary>
    /// Outside the layers: rotary cos/sin, the final norm (float32 input, normalised values when it trains), the final
    /// hidden states StepRunner holds, and the target rows the loss keeps for its backward.
    /// </summary>
    private static long OutsideLayerActivations(TrainingShape shape)
    {
        long n = shape.Tokens, s = shape.ElementBytes, c = shape.Config.HiddenSize;
        return 2 * s * n * shape.Config.HeadDim + n * c * (4 + (shape.BaseTrains ? s : 0)) + 2 * s * n * c;
    }

    /// <summary>Gradients flowing through one layer's backward at once: about two of (N, I) and two of (N, C).</summary>
    private static long BackwardInFlight(TrainingShape shape)
    {
        long n = shape.Tokens, s = shape.ElementBytes;
        return 2 * s * n * (shape.Config.IntermediateSize + shape.Config.HiddenSize);
    }

    /// <summary>
    /// FusedLinearCrossEntropy, with its own vocabulary blocks: the float32 logits blocks that forward keeps for backward
    /// (up to its kept budget) and one scratch block for the rest, below float32 a block's gradient cast to the model
    /// dtype, the float32 input gradient, a product of (N, C) and the (block, C) weight gradient slice; never the (N,
    /// vocab) logits beyond the budget.
    /// </summary>
    public static long LossHeadWorking(TrainingShape shape)
    {
        long rows = Math.Max(1, shape.Tokens), s = shape.ElementBytes, c = shape.Config.HiddenSize, vocab = shape.Config.VocabSize;
        var blocks = Training.FusedLinearCrossEntropy.Blocks(rows, vocab).ToList();
        var block = blocks[0].Length;
        var blockBytes = 4 * rows * block;
        var kept = Math.Min(blocks.Count, Training.FusedLinearCrossEntropy.KeptLogitsBytes.Value / blockBytes);
        var logits = (kept + (kept < blocks.Count ? 1 : 0)) * blockBytes + (s == 4 ? 0 : s * rows * block);
        return logits + 4 * rows * c + 2 * s * rows * c + s * block * c;
    }

    /// <summary>Tied embeddings in full fine-tuning: the embedding's dense gradient is a second (vocab, C) tensor until it is added to the head's.</summary>
    private static long TiedEmbeddingGradient(TrainingShape shape, ParameterCounts counts) =>
        shape.BaseTrains && shape.Config.TieWordEmbeddings ? (long)shape.ElementBytes * counts.Embedding : 0;
}
