using System.Diagnostics;
using QwenTune.Training;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>
/// The AdamW step (norm, clipping, update) on one large parameter, float32 and bf16 with float32 masters, against
/// its memory-bandwidth bound: the bytes it must move (gradient read twice, for the norm and the update; master
/// and both moments read and written; a bf16 parameter written) over a copy bandwidth measured in the same process.
/// Fused (one pass, <see cref="FusedAdamW"/>) and composed of libtorch ops (the path before it), side by side, and
/// unless --no-peer PyTorch eager's torch.optim.AdamW with clip_grad_norm_ (bench/peers/torch_eager_parts.py adamw).
/// </summary>
internal sealed class OptimizerBenchmark : IBenchmark
{
    public string Name => "optimizer";

    public string Description => "AdamW step ns/parameter vs the memory-bandwidth bound, fused vs composed [--parameters N] [--no-peer]";

    public object Run(IReadOnlyList<string> args)
    {
        var count = args.SkipWhile(a => a != "--parameters").Skip(1).FirstOrDefault() is { } n ? long.Parse(n) : 32L << 20;
        var bandwidth = MemoryBandwidth.CopyGbPerSecond();
        var rows = new List<object>();
        foreach (var dtype in new[] { ScalarType.Float32, ScalarType.BFloat16 })
        {
            var gradBytes = dtype == ScalarType.Float32 ? 4 : 2;
            var bytesPerParameter = 2 * gradBytes + 3 * 8 + (dtype == ScalarType.Float32 ? 0 : 2);
            var boundNs = bytesPerParameter / bandwidth;   // bytes / (bytes per ns)
            var fused = NanosecondsPerParameter(count, dtype, fused: true);
            var composed = NanosecondsPerParameter(count, dtype, fused: false);
            var peer = args.Contains("--no-peer") ? null : Peer.Run("torch_eager_parts.py",
                ["adamw", "--parameters", count.ToString(), "--dtype", dtype == ScalarType.Float32 ? "fp32" : "bf16"],
                json => -json.GetProperty("ns_per_parameter").GetDouble());
            var peerNs = Peer.Field(peer, "ns_per_parameter");
            rows.Add(new
            {
                dtype = dtype.ToString(), parameters = count, bytes_per_parameter = bytesPerParameter,
                bound_ns_per_parameter = Math.Round(boundNs, 3),
                fused_ns_per_parameter = Math.Round(fused, 3), fused_over_bound = Math.Round(fused / boundNs, 2),
                composed_ns_per_parameter = Math.Round(composed, 3), composed_over_bound = Math.Round(composed / boundNs, 2),
                peer, peer_over_fused = peerNs is { } p ? Math.Round(p / fused, 2) : (double?)null,
            });
        }
        return new
        {
            threads = get_num_threads(), copy_bandwidth_gb_per_s = Math.Round(bandwidth, 2),
            gemm_peak_gflops = Math.Round(GemmPeak.Gflops(ScalarType.Float32), 1), peak_rss_mb = QwenTune.Memory.PeakRssBytes() >> 20, rows,
        };
    }

    private static double NanosecondsPerParameter(long count, ScalarType dtype, bool fused)
    {
        using var scope = NewDisposeScope();
        var parameter = new Parameter(randn(count).to(dtype));
        using var updater = new AdamWUpdater([new TrainableParameter("w", parameter, Decay: true)], new AdamWOptions(0.9, 0.95, 1e-8, 0.01));
        var times = new List<double>();
        var previous = FusedAdamW.Enabled;
        FusedAdamW.Enabled = fused;
        try
        {
            for (var i = 0; i < 5; i++)
            {
                parameter.grad = randn(count).to(dtype);
                var clock = Stopwatch.StartNew();
                updater.Step(1e-4, maxGradNorm: 1.0);
                times.Add(clock.Elapsed.TotalSeconds);
            }
        }
        finally
        {
            FusedAdamW.Enabled = previous;
        }
        return times.Order().ElementAt(times.Count / 2) * 1e9 / count;
    }
}
