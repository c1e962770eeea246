namespace QwenTune.Planning;

/// <summary>
/// Bytes one rank holds while training, by kind. Each part is its own largest value during a step; they do not all
/// peak at once (activations are freed as backward fills in the gradients), so <see cref="Peak"/> is the largest sum
/// at any moment of the step, not the sum of the parts.
/// </summary>
public sealed record MemoryEstimate
{
    public long TotalParameters { get; init; }

    public long TrainableParameters { get; init; }

    /// <summary>Model weights this rank keeps (dense, NF4, LoRA adapters; ZeRO-3 shards plus one gathered layer).</summary>
    public long Weights { get; init; }

    /// <summary>Gradients: the parameters' own (model or adapter dtype) and, under ZeRO, the float32 gradient shard.</summary>
    public long Gradients { get; init; }

    /// <summary>AdamW's two float32 moments and the float32 master weights where the updater keeps them.</summary>
    public long OptimizerState { get; init; }

    /// <summary>Tensors saved for backward at the end of forward, plus the recomputed layer and the gradients in flight through one layer.</summary>
    public long Activations { get; init; }

    /// <summary>One decoder layer's saved tensors without checkpointing.</summary>
    public long ActivationsPerLayer { get; init; }

    /// <summary>What a checkpointed layer keeps between forward and backward.</summary>
    public long CheckpointedPerLayer { get; init; }

    /// <summary>The fused loss head's working memory: logits blocks, the float32 input gradient, temporaries.</summary>
    public long LossHead { get; init; }

    /// <summary>The optimizer step's temporaries (a float32 gradient copy and the denominator of the largest parameter, or a ZeRO bucket).</summary>
    public long StepWorking { get; init; }

    public long Peak { get; init; }
}
