namespace QwenTune.Models;

/// <summary>One <see cref="LayerKvCache"/> per decoder layer: what a model has seen of the sequences it is decoding.</summary>
public sealed class KvCache : IDisposable
{
    public KvCache(int layers) => Layers = [.. Enumerable.Range(0, layers).Select(_ => new LayerKvCache())];

    public IReadOnlyList<LayerKvCache> Layers { get; }

    /// <summary>Positions held (every layer holds the same number).</summary>
    public long Length => Layers.Count == 0 ? 0 : Layers[0].Length;

    public void Dispose()
    {
        foreach (var layer in Layers)
            layer.Dispose();
    }
}
