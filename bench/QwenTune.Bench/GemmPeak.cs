using System.Diagnostics;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>
/// The matmul rate of this process with its threads, measured now (this machine's speed drifts by +-30%, so every
/// benchmark prints the peak it measured next to its own throughput): 1024^3 once to learn the speed, then enough
/// repetitions for about a second. bf16 multiplies as training does (<see cref="QwenTune.Models.BFloat16Products"/>):
/// libtorch's bf16 GEMM where the CPU has AVX512-BF16 or AMX (about four times float32's rate), float32 GEMMs elsewhere.
/// </summary>
internal static class GemmPeak
{
    public static double Gflops(ScalarType dtype, double seconds = 1.0)
    {
        using var scope = NewDisposeScope();
        const int n = 1024;
        var a = randn(n, n).to(dtype);
        var b = randn(n, n).to(dtype);
        var clock = Stopwatch.StartNew();
        QwenTune.Models.BFloat16Products.MatMul(a, b).Dispose();
        var reps = (int)Math.Clamp(seconds / Math.Max(clock.Elapsed.TotalSeconds, 1e-4), 1, 400);
        clock.Restart();
        for (var i = 0; i < reps; i++)
            QwenTune.Models.BFloat16Products.MatMul(a, b).Dispose();
        return reps * 2.0 * n * n * n / clock.Elapsed.TotalSeconds / 1e9;
    }
}
