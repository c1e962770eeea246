namespace QwenTune.Configuration;

/// <summary>
/// A DeepSpeed config's zero_optimization block as QwenTune applies it, "auto" values resolved as Hugging Face's
/// integration resolves them (reduce_bucket_size = hidden^2, stage3_param_persistence_threshold = 10 x hidden).
/// Stage 0 all-reduces gradients in buckets of <see cref="ReduceBucketSize"/> elements; 1 shards the AdamW moments and
/// float32 master weights; 2 also reduce-scatters gradients so each rank keeps only its shard; 3 also shards the
/// decoder layers' parameters (tensors under <see cref="PersistenceThreshold"/> elements stay whole).
/// </summary>
public sealed record ZeroSettings(int Stage, long ReduceBucketSize, long PersistenceThreshold, bool OverlapComm)
{
    public static ZeroSettings None { get; } = new(0, 500_000_000, 100_000, OverlapComm: false);
}
