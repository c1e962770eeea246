using System.Diagnostics;
using QwenTune.Training;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>
/// The fused vocabulary head (<see cref="FusedLinearCrossEntropy"/>): forward + backward of the summed cross entropy
/// of x (T, H) @ W (V, H)^T with V = 151,936, timed against the GEMM peak measured in the same process. The useful
/// work is 6 T H V flops (logits, and the two gradient products); recomputing the logits in backward adds 2 T H V
/// that do not count. Beside it, libtorch's plain path (materialised logits, cross_entropy) where it fits in memory,
/// and the PyTorch-eager peer (bench/peers/torch_eager_parts.py head: HF's loss on full logits) unless --no-peer.
/// </summary>
internal sealed class HeadBenchmark : IBenchmark
{
    private const long Vocabulary = 151_936;

    public string Name => "head";

    public string Description => "fused loss head fwd+bwd: share of GEMM peak across T and H (V = 151,936) [--quick|--full|--shape TxH] [--bf16] [--block-mb N] [--keep-mb N] [--sub-kb N] [--tile-tokens N] [--threaded-max N|off] [--native-hidden-max N] [--fused-only] [--no-peer]";

    public object Run(IReadOnlyList<string> args)
    {
        string? Option(string name) => args.SkipWhile(a => a != name).Skip(1).FirstOrDefault();
        if (Option("--block-mb") is { } block)
            FusedLinearCrossEntropy.BlockBytes.Value = long.Parse(block) << 20;
        if (Option("--keep-mb") is { } keep)
            FusedLinearCrossEntropy.KeptLogitsBytes.Value = long.Parse(keep) << 20;
        if (Option("--sub-kb") is { } sub)
            ThreadedHead.SubBlockBytes.Value = ThreadedHead.NativeSubBlockBytes.Value = long.Parse(sub) << 10;
        if (Option("--tile-tokens") is { } tile)
            ThreadedHead.TileTokens.Value = int.Parse(tile);
        if (Option("--native-hidden-max") is { } widest)
            ThreadedHead.MaxNativeHiddenWithWeightGradient.Value = long.Parse(widest);
        if (Option("--threaded-max") is { } most)
            (ThreadedHead.Enabled.Value, ThreadedHead.MaxTokenElements.Value, ThreadedHead.MaxFloat32TokenElements.Value, ThreadedHead.MaxNativeTokenElements.Value) =
                most == "off" ? (false, 0, 0, 0) : (true, long.Parse(most), long.Parse(most), long.Parse(most));
        var dtype = args.Contains("--bf16") ? ScalarType.BFloat16 : ScalarType.Float32;
        (long T, long H)[] shapes = Option("--shape") is { } shape ? [(long.Parse(shape.Split('x')[0]), long.Parse(shape.Split('x')[1]))]
            : args.Contains("--quick") ? [(512, 64), (1024, 64), (1024, 256), (4096, 64)] : args.Contains("--full")
            ? [(1024, 64), (1024, 256), (1024, 1024), (4096, 64), (4096, 256), (4096, 1024), (8192, 64), (8192, 256), (8192, 1024)]
            : [(1024, 64), (1024, 256), (1024, 1024), (4096, 64), (4096, 896), (8192, 64)];
        var rows = new List<object>();
        foreach (var (tokens, hidden) in shapes)
        {
            // The peak measured before and after the fused head, the higher taken: this machine drifts by +-30%.
            var peakBefore = GemmPeak.Gflops(dtype);
            var fused = Seconds(tokens, hidden, dtype, materialise: false);
            var peakAfter = GemmPeak.Gflops(dtype);
            var peak = Math.Max(peakBefore, peakAfter);
            // --fused-only (for profiling the fused head): neither the materialised loss nor the products alone.
            var fusedOnly = args.Contains("--fused-only");
            var plain = !fusedOnly && tokens * Vocabulary * 4 <= (4L << 30) ? Seconds(tokens, hidden, dtype, materialise: true) : double.NaN;
            var useful = 6.0 * tokens * hidden * Vocabulary / 1e9;
            var gemms = fusedOnly ? double.NaN : GemmSeconds(tokens, hidden);
            var peer = args.Contains("--no-peer") || double.IsNaN(plain) ? null : Peer.Run("torch_eager_parts.py",
                ["head", "--tokens", tokens.ToString(), "--hidden", hidden.ToString(), "--dtype", dtype == ScalarType.BFloat16 ? "bf16" : "fp32"],
                json => -json.GetProperty("seconds").GetDouble());
            rows.Add(new
            {
                tokens, hidden,
                path = Path(tokens, hidden, dtype),
                fused_seconds = Math.Round(fused, 3),
                fused_gflops = Math.Round(useful / fused, 1),
                share_of_peak = Math.Round(useful / fused / peak, 3),
                plain_seconds = double.IsNaN(plain) ? (double?)null : Math.Round(plain, 3),
                plain_share_of_peak = double.IsNaN(plain) ? (double?)null : Math.Round(useful / plain / peak, 3),
                gemm_peak_gflops = Math.Round(peak, 1),
                gemm_peak_before_after = new[] { Math.Round(peakBefore, 1), Math.Round(peakAfter, 1) },
                products_only_seconds = double.IsNaN(gemms) ? (double?)null : Math.Round(gemms, 3),
                products_only_share_of_peak = double.IsNaN(gemms) ? (double?)null : Math.Round(useful / gemms / peak, 3),
                peer,
                peer_seconds_over_fused = Peer.Field(peer, "seconds") is { } peerSeconds ? Math.Round(peerSeconds / fused, 2) : (double?)null,
            });
            Console.Error.WriteLine(System.Text.Json.JsonSerializer.Serialize(rows[^1]));
        }
        return new
        {
            block_mb = FusedLinearCrossEntropy.BlockBytes.Value >> 20, kept_mb = FusedLinearCrossEntropy.KeptLogitsBytes.Value >> 20,
            threaded_head = new { enabled = ThreadedHead.Enabled.Value && MklGemm.Available, sub_block_kb = ThreadedHead.SubBlockBytes.Value >> 10, native_bf16_sub_block_kb = ThreadedHead.NativeSubBlockBytes.Value >> 10, tile_tokens = ThreadedHead.TileTokens.Value, max_token_elements = ThreadedHead.MaxTokenElements.Value, max_float32_token_elements = ThreadedHead.MaxFloat32TokenElements.Value, max_native_bf16_token_elements = ThreadedHead.MaxNativeTokenElements.Value },
            dtype = dtype.ToString(), vocabulary = Vocabulary, threads = get_num_threads(), rows };
    }

    /// <summary>
    /// Median seconds of the head's three float32 products alone over the fused loss's vocabulary blocks, in its
    /// vocabulary-major layout (logits (Vb, T) = W_b x^T, dX += G^T W_b, dW_b = G x), into reused storage: the ceiling
    /// the element-wise work around them is measured against.
    /// </summary>
    private static double GemmSeconds(long tokens, long hidden)
    {
        using var scope = NewDisposeScope();
        var x = randn(tokens, hidden);
        var xT = x.t();
        var weight = randn(Vocabulary, hidden);
        var gradW = zeros(Vocabulary, hidden);
        var gradX = zeros(tokens, hidden);
        var blocks = FusedLinearCrossEntropy.Blocks(tokens, Vocabulary).ToList();
        var logits = empty(blocks[0].Length, tokens);
        return MedianSeconds(2, () =>
        {
            foreach (var (start, length) in blocks)
            {
                using var block = weight.narrow(0, start, length);
                using var output = logits.narrow(0, 0, length);
                output.addmm_(block, xT, beta: 0);
                using var outputT = output.t();
                gradX.addmm_(outputT, block);
                using var gradBlock = gradW.narrow(0, start, length);
                gradBlock.addmm_(output, x, beta: 0);
            }
        });
    }

    /// <summary>Median seconds of forward + backward over a few repetitions (at least ~3 s of work or 3 runs).</summary>
    /// <summary>
    /// The way the fused head takes this shape, "threaded" or "blocks": <see cref="ThreadedHead.Applies"/> asked with
    /// tensors shaped as <see cref="Seconds"/>'s (empty, so their pages are never touched).
    /// </summary>
    private static string Path(long tokens, long hidden, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var x = empty(tokens, hidden, dtype);
        var weight = empty(Vocabulary, hidden, dtype).requires_grad_();
        var widen = QwenTune.Models.BFloat16Products.Widens(x);
        return ThreadedHead.Applies(x, weight, empty(tokens, ScalarType.Int64), widen) ? "threaded" : "blocks";
    }

    private static double Seconds(long tokens, long hidden, ScalarType dtype, bool materialise)
    {
        using var scope = NewDisposeScope();
        var generator = new Generator(7);
        var x = (randn(tokens, hidden, generator: generator) * 0.5).to(dtype).requires_grad_();
        var weight = (randn(Vocabulary, hidden, generator: generator) * 0.02).to(dtype).requires_grad_();
        var targets = randint(0, Vocabulary, tokens, generator: generator);
        return MedianSeconds(3, () =>
        {
            using var step = NewDisposeScope();
            var loss = materialise
                ? nn.functional.cross_entropy(nn.functional.linear(x, weight).to(ScalarType.Float32), targets, reduction: nn.Reduction.Sum)
                : FusedLinearCrossEntropy.NllSum(x, weight, targets);
            loss.backward();
        }, between: () =>
        {
            x.grad?.zero_();
            weight.grad?.zero_();
        });
    }

    /// <summary>
    /// Median seconds of <paramref name="run"/> over at least 3 runs, and more (up to 20) while the runs so far took
    /// under <paramref name="budgetSeconds"/>; <paramref name="between"/> runs untimed after each.
    /// </summary>
    private static double MedianSeconds(double budgetSeconds, Action run, Action? between = null)
    {
        var times = new List<double>();
        var total = Stopwatch.StartNew();
        while (times.Count < 3 || (total.Elapsed.TotalSeconds < budgetSeconds && times.Count < 20))
        {
            var clock = Stopwatch.StartNew();
            run();
            times.Add(clock.Elapsed.TotalSeconds);
            between?.Invoke();
        }
        return times.Order().ElementAt(times.Count / 2);
    }
}
