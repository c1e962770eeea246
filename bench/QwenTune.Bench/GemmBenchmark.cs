using System.Diagnostics;
using QwenTune.Models;
using QwenTune.Training;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>
/// Which way bf16 products run faster on this CPU: libtorch's own bf16 matmul (oneDNN/MKL, fast where the CPU has
/// AVX512-BF16 or AMX) or the widened path (<see cref="BFloat16Products"/>: bf16 inputs widened to float32, a float32
/// GEMM, the result rounded to bf16), beside the float32 GEMM alone, at the products of the benchmarked models
/// (tokens x hidden times hidden x out, and the head's tokens x hidden times hidden x vocab-block). Interleaved,
/// best of several, in one process: the decision <see cref="BFloat16Products.WidenOnCpu"/> makes, measured.
/// </summary>
internal sealed class GemmBenchmark : IBenchmark
{
    public string Name => "gemm";

    public string Description => "bf16 products: libtorch's native bf16 matmul against widened float32, at model shapes [--repeats N]";

    public object Run(IReadOnlyList<string> args)
    {
        var repeats = args.SkipWhile(a => a != "--repeats").Skip(1).FirstOrDefault() is { } r ? int.Parse(r) : 5;
        (string Name, long M, long K, long N)[] shapes =
        [
            ("default mlp", 512, 64, 192),
            ("default head block", 300, 64, 16384),
            ("89m qkv", 1024, 512, 768),
            ("89m mlp up", 1024, 512, 2816),
            ("89m mlp down", 1024, 1408, 512),
            ("0.5b mlp up", 512, 896, 9728),
            ("0.5b mlp down", 512, 4864, 896),
            ("square 1024", 1024, 1024, 1024),
            ("head sub-block 300 x 1024", 300, 64, 1024),
            ("head sub-block 300 x 512", 300, 64, 512),
            ("head sub-block 300 x 256", 300, 64, 256),
            ("head dx 300 x 1024 rows", 300, 1024, 64),
            ("head dw 1024 rows x 300", 1024, 300, 64),
        ];
        var rows = shapes.Select(s => Measure(s.Name, s.M, s.K, s.N, repeats)).ToList();
        return new
        {
            cpu_has_bf16_instructions = BFloat16Products.CpuHasFastBFloat16,
            widens_now = BFloat16Products.WidenOnCpu,
            threads = get_num_threads(),
            gemm_peak_gflops = Math.Round(GemmPeak.Gflops(ScalarType.Float32), 1),
            shapes = rows,
        };
    }

    private static object Measure(string name, long m, long k, long n, int repeats)
    {
        using var scope = NewDisposeScope();
        using var noGrad = no_grad();
        var a = randn(m, k).to(ScalarType.BFloat16);
        var b = randn(k, n).to(ScalarType.BFloat16);
        var (a32, b32) = (a.to(ScalarType.Float32), b.to(ScalarType.Float32));
        var flops = 2.0 * m * k * n;
        double native = double.MaxValue, widened = double.MaxValue, float32 = double.MaxValue;
        for (var i = 0; i <= repeats; i++)
        {
            // The first round warms each path (packing buffers, oneDNN primitive cache) and is not counted.
            var n1 = Time(() => a.matmul(b));
            var w1 = Time(() =>
            {
                using var wa = a.to(ScalarType.Float32);
                using var wb = b.to(ScalarType.Float32);
                using var p = wa.matmul(wb);
                return p.to(ScalarType.BFloat16);
            });
            var f1 = Time(() => a32.matmul(b32));
            if (i == 0)
                continue;
            (native, widened, float32) = (Math.Min(native, n1), Math.Min(widened, w1), Math.Min(float32, f1));
        }
        return new
        {
            shape = name,
            m, k, n,
            native_bf16_gflops = Math.Round(flops / native / 1e9, 1),
            widened_bf16_gflops = Math.Round(flops / widened / 1e9, 1),
            float32_gflops = Math.Round(flops / float32 / 1e9, 1),
            native_over_widened = Math.Round(widened / native, 3),
            // Each of the process's threads running its own product on one OpenMP thread (as ThreadedHead does), summed.
            per_thread_native_bf16_gflops = MklGemm.OpenMpAvailable ? Math.Round(get_num_threads() * flops / LibtorchPerThread(a, b, repeats) / 1e9, 1) : double.NaN,
        };
    }

    /// <summary>
    /// Best seconds of libtorch's bf16 product (addmm_ into a bf16 output made beforehand) run by every thread at once,
    /// each with one OpenMP thread (<see cref="MklGemm.SingleOpenMpThread"/>), as a bf16 threaded head would.
    /// </summary>
    private static double LibtorchPerThread(Tensor a, Tensor b, int repeats)
    {
        var threads = get_num_threads();
        var best = double.MaxValue;
        for (var i = 0; i <= repeats; i++)
        {
            var seconds = new double[threads];
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, thread =>
            {
                using var single = MklGemm.SingleOpenMpThread();
                using var c = empty(a.shape[0], b.shape[1], ScalarType.BFloat16);
                c.addmm_(a, b, beta: 0);
                var clock = Stopwatch.StartNew();
                c.addmm_(a, b, beta: 0);
                seconds[thread] = clock.Elapsed.TotalSeconds;
            });
            if (i > 0)
                best = Math.Min(best, seconds.Max());
        }
        return best;
    }

    private static double Time(Func<Tensor> product)
    {
        var clock = Stopwatch.StartNew();
        product().Dispose();
        return clock.Elapsed.TotalSeconds;
    }
}
