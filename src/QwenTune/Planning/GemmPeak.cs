using System.Diagnostics;
using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Planning;

/// <summary>
/// The matrix-product rate this machine reaches now, in the run's dtype and at the model's shapes (tokens x hidden times
/// hidden x intermediate): the best of a few timed products after a warm-up, sized so the measurement takes well under a
/// second even where the dtype is slow (bfloat16 on CPUs without AVX512-BF16).
/// </summary>
public static class GemmPeak
{
    public static double FlopsPerSecond(ScalarType dtype, Device device, long tokens, long inner, long outer)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        inner = Math.Clamp(inner, 16, 4096);
        outer = Math.Clamp(outer, 16, 16384);
        var probeRows = 16L;
        var probe = Time(dtype, device, probeRows, inner, outer, repeats: 2);
        // Rows for about 0.1 s per product, within what a micro-batch has.
        var rows = (long)Math.Clamp(probeRows * 0.1 / Math.Max(probe, 1e-6), 16, Math.Clamp(tokens, 16, 2048));
        var seconds = Time(dtype, device, rows, inner, outer, repeats: 3);
        return 2.0 * rows * inner * outer / seconds;
    }

    private static double Time(ScalarType dtype, Device device, long rows, long inner, long outer, int repeats)
    {
        using var scope = NewDisposeScope();
        var a = randn(rows, inner, dtype: dtype, device: device);
        var b = randn(inner, outer, dtype: dtype, device: device);
        BFloat16Products.MatMul(a, b).Dispose();   // warm-up: thread pool, packing buffers
        var best = double.MaxValue;
        for (var i = 0; i < repeats; i++)
        {
            var clock = Stopwatch.StartNew();
            using var product = BFloat16Products.MatMul(a, b);   // as training multiplies: bf16 on float32 GEMMs where that is faster
            using var sum = product.sum().to(ScalarType.Float32);
            sum.item<float>();   // waits for the device (CUDA runs asynchronously); 1/inner of the product's work
            best = Math.Min(best, clock.Elapsed.TotalSeconds);
        }
        return best;
    }
}
