using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using QwenTune.Checkpoints;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>
/// Writes a Qwen2.5-0.5B-shaped bf16 checkpoint (~1 GB, 300 MB shards) to a temp folder, then loads it in fresh
/// child processes, so that the writing does not count in the peak RSS: into a module (cold page cache and warm)
/// and as a tensor-by-tensor stream. Args: [--layers N] [--shard 300MB].
/// </summary>
internal sealed class CheckpointLoadBenchmark : IBenchmark
{
    private const int PosixFadviseDontNeed = 4;

    public string Name => "checkpoint-load";

    public string Description => "write a ~1 GB sharded bf16 checkpoint, load it in a child process: seconds, GB/s, peak RSS";

    public object Run(IReadOnlyList<string> args)
    {
        if (args.Count == 3 && args[0] == "--child")
            return RunChild(args[1], args[2]);
        var layers = int.Parse(Option(args, "--layers", "24"), System.Globalization.CultureInfo.InvariantCulture);
        var shardSize = ShardSize.Parse(Option(args, "--shard", "300MB"));
        var folder = Path.Combine(Path.GetTempPath(), "qwentune-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            var written = WriteCheckpoint(folder, layers, shardSize);
            EvictFromPageCache(folder);
            var cold = RunInChild("module", folder);
            var warm = RunInChild("module", folder);
            var stream = RunInChild("stream", folder);
            return new { checkpoint = written, load_into_module_cold_cache = cold, load_into_module_warm_cache = warm, stream_read_warm_cache = stream };
        }
        finally
        {
            if (Directory.Exists(folder))
                Directory.Delete(folder, recursive: true);
        }
    }

    private static object WriteCheckpoint(string folder, int layers, long shardSize)
    {
        var shapes = QwenShapes(layers);
        var clock = Stopwatch.StartNew();
        var stateDict = shapes.Select(s => new KeyValuePair<string, Tensor>(s.Key, RandomBf16(s.Value))).ToList();
        var generateSeconds = clock.Elapsed.TotalSeconds;
        clock.Restart();
        var files = HfCheckpoint.Save(folder, stateDict, shardSize);
        var writeSeconds = clock.Elapsed.TotalSeconds;
        var bytes = stateDict.Sum(p => SafeTensorsWriter.ByteCount(p.Value));
        stateDict.ForEach(p => p.Value.Dispose());
        return new
        {
            tensors = shapes.Count,
            bytes,
            files = files.Select(Path.GetFileName),
            generate_seconds = Math.Round(generateSeconds, 2),
            write_seconds = Math.Round(writeSeconds, 2),
            write_gb_per_s = Math.Round(bytes / writeSeconds / 1e9, 2),
        };
    }

    private static Tensor RandomBf16(long[] shape)
    {
        using var uniform = torch.rand(shape);
        return uniform.to(ScalarType.BFloat16);
    }

    private static object RunChild(string mode, string folder)
    {
        using (torch.zeros(1)) { } // load libtorch before the baseline reading
        using var checkpoint = HfCheckpoint.Open(folder);
        var bytes = checkpoint.Entries.Sum(e => e.ByteCount);
        var largest = checkpoint.Entries.Max(e => e.ByteCount);
        using var module = mode == "module" ? StateDictModule.Build(checkpoint.Entries.Select(e => (e.Name, e.Shape.ToArray())), ScalarType.BFloat16) : null;
        var before = ReadStatus();
        var clock = Stopwatch.StartNew();
        if (module is not null)
            checkpoint.LoadInto(module);
        else
            StreamAll(checkpoint);
        var seconds = clock.Elapsed.TotalSeconds;
        var after = ReadStatus();
        return new
        {
            mode,
            bytes,
            seconds = Math.Round(seconds, 3),
            gb_per_s = Math.Round(bytes / seconds / 1e9, 2),
            rss_before_mb = before.RssMb,
            peak_rss_before_mb = before.PeakMb,
            peak_rss_mb = after.PeakMb,
            rss_after_mb = after.RssMb,
            largest_tensor_mb = largest >> 20,
            // What loading holds beyond the baseline and its unavoidable residue: the module's weights, or (streaming)
            // the one tensor alive at a time.
            peak_overhead_mb = after.PeakMb - before.RssMb - ((module is null ? largest : bytes) >> 20),
        };
    }

    private static void StreamAll(HfCheckpoint checkpoint)
    {
        foreach (var (_, tensor) in checkpoint.ReadTensors())
            tensor.Dispose();
    }

    private static JsonElement RunInChild(string mode, string folder) =>
        ChildProcess.RunSelf("checkpoint-load", "--child", mode, folder);

    // Shapes of Qwen2.5-0.5B (hidden 896, 14 heads, 2 kv heads of 64, SwiGLU 4864, vocab 151936, tied embeddings).
    private static Dictionary<string, long[]> QwenShapes(int layers)
    {
        const long hidden = 896, kv = 128, intermediate = 4864, vocab = 151936;
        var shapes = new Dictionary<string, long[]> { ["model.embed_tokens.weight"] = [vocab, hidden], ["model.norm.weight"] = [hidden] };
        for (var i = 0; i < layers; i++)
        {
            var p = $"model.layers.{i}.";
            shapes[p + "input_layernorm.weight"] = [hidden];
            shapes[p + "post_attention_layernorm.weight"] = [hidden];
            shapes[p + "self_attn.q_proj.weight"] = [hidden, hidden];
            shapes[p + "self_attn.q_proj.bias"] = [hidden];
            shapes[p + "self_attn.k_proj.weight"] = [kv, hidden];
            shapes[p + "self_attn.k_proj.bias"] = [kv];
            shapes[p + "self_attn.v_proj.weight"] = [kv, hidden];
            shapes[p + "self_attn.v_proj.bias"] = [kv];
            shapes[p + "self_attn.o_proj.weight"] = [hidden, hidden];
            shapes[p + "mlp.gate_proj.weight"] = [intermediate, hidden];
            shapes[p + "mlp.up_proj.weight"] = [intermediate, hidden];
            shapes[p + "mlp.down_proj.weight"] = [hidden, intermediate];
        }
        return shapes;
    }

    // The files were just written: ask the kernel to drop their (clean, fsynced) pages so the first load reads disk.
    private static void EvictFromPageCache(string folder)
    {
        foreach (var file in Directory.EnumerateFiles(folder))
        {
            using var handle = File.OpenHandle(file);
            _ = posix_fadvise((int)handle.DangerousGetHandle(), 0, 0, PosixFadviseDontNeed);
        }
    }

    private static (long RssMb, long PeakMb) ReadStatus() =>
        (QwenTune.Memory.CurrentRssBytes() >> 20, QwenTune.Memory.PeakRssBytes() >> 20);

    private static string Option(IReadOnlyList<string> args, string name, string fallback)
    {
        var at = args.ToList().IndexOf(name);
        return at >= 0 && at + 1 < args.Count ? args[at + 1] : fallback;
    }

    [DllImport("libc")]
    private static extern int posix_fadvise(int fd, long offset, long length, int advice);
}
