using QwenTune.Models;

namespace QwenTune.Training;

/// <summary>
/// What a sharded optimizer needs to hear about each decoder layer as it runs (ZeRO-3 parameter gathering, per-layer
/// gradient reduction). <see cref="CheckpointedLayer"/> calls it around each layer's forward and backward.
/// </summary>
public interface ILayerParameters
{
    /// <summary>Makes the layer's parameters whole (ZeRO-3 all-gathers them); a no-op where they already are.</summary>
    void Gather(QwenDecoderLayer layer);

    /// <summary>Frees what <see cref="Gather"/> assembled.</summary>
    void Release(QwenDecoderLayer layer);

    /// <summary>The layer's backward is done: its parameter gradients are complete for this micro-batch.</summary>
    void GradientsReady(QwenDecoderLayer layer);
}
