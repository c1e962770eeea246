using System.Diagnostics;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>
/// The matmul rate of this process with its threads, measured now (this machine's speed drifts by +-30%): 1024^3 once
/// to learn the speed, then enough repetitions for about a second. Benchmarks state their share of it.
/// </summary>
internal static class GemmRate
{
    public static double Gflops(ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        const int n = 1024;
        var a = randn(n, n).to(dtype);
        var b = randn(n, n).to(dtype);
        var clock = Stopwatch.StartNew();
        a.matmul(b).Dispose();
        var reps = (int)Math.Clamp(1.0 / Math.Max(clock.Elapsed.TotalSeconds, 1e-4), 1, 200);
        clock.Restart();
        for (var i = 0; i < reps; i++)
            a.matmul(b).Dispose();
        return reps * 2.0 * n * n * n / clock.Elapsed.TotalSeconds / 1e9;
    }
}
