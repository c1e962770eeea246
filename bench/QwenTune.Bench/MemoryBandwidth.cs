using System.Diagnostics;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>The memory bandwidth of this process now: a 256 MiB float32 copy (far beyond any cache), reads plus writes, best of five.</summary>
internal static class MemoryBandwidth
{
    /// <summary>GB/s, which is also bytes per nanosecond.</summary>
    public static double CopyGbPerSecond()
    {
        const long elements = 64L << 20;
        using var source = ones(elements);
        using var target = empty(elements);
        target.copy_(source);
        var fastest = double.MaxValue;
        for (var i = 0; i < 5; i++)
        {
            var watch = Stopwatch.StartNew();
            target.copy_(source);
            fastest = Math.Min(fastest, watch.Elapsed.TotalSeconds);
        }
        return 2.0 * elements * sizeof(float) / fastest / 1e9;
    }
}
