using QwenTune.Distributed;
using static TorchSharp.torch;

namespace QwenTune.Runtime;

/// <summary>Where and in which precision to compute, resolved from --device, --bf16, --fp16 and the machine.</summary>
public sealed record ComputeEnvironment(Device Device, ScalarType Dtype)
{
    public bool IsCuda => Device.type == TorchSharp.DeviceType.CUDA;

    /// <summary>Why this device: asked for, or what --device auto found.</summary>
    public string Reason { get; init; } = "--device cpu";

    /// <summary>libtorch's intra-op threads in this process.</summary>
    public int Threads { get; init; } = 1;

    /// <summary>Processes in the data-parallel job (1 without a launcher).</summary>
    public int Ranks { get; init; } = 1;

    /// <summary>The allocator choice for CPU memory, where one was made (<see cref="NativeAllocator"/>), else null.</summary>
    public string? Allocator { get; init; }

    /// <summary>The startup line: device (and why), dtype, threads and ranks, and the allocator where one was chosen.</summary>
    public string Describe() =>
        $"Device {Device.type.ToString().ToLowerInvariant()}{(IsCuda ? ":" + Device.index : "")} ({Reason}), dtype {Dtype.ToString().ToLowerInvariant()}, " +
        $"{Threads} thread{(Threads == 1 ? "" : "s")}{(Ranks > 1 ? " per rank" : "")}, {Ranks} rank{(Ranks == 1 ? "" : "s")}" +
        $"{(Allocator is null ? "" : ", " + Allocator)}.";

    /// <param name="distributed">
    /// This process's place in a data-parallel job: its ranks on one node share the cores (each takes its share of
    /// threads unless <paramref name="threads"/> says otherwise) and, on CUDA, rank r of the node takes device r.
    /// </param>
    public static ComputeEnvironment Resolve(string? device, bool bf16, bool fp16, int? threads = null, DistributedEnvironment? distributed = null)
    {
        distributed ??= DistributedEnvironment.SingleProcess;
        NativeCaches.Cap();
        set_num_threads(threads is > 0 ? threads.Value : distributed.ThreadsPerRank(Environment.ProcessorCount));
        var chosen = Choose(device, bf16, fp16, TorchSharp.torch.cuda.is_available(), BuildHasCuda(), distributed);
        return chosen with { Threads = get_num_threads(), Allocator = NativeAllocator.Description };
    }

    /// <summary>The choice itself, apart from the machine (<paramref name="cudaAvailable"/>: a device is visible;
    /// <paramref name="cudaBuild"/>: the libtorch beside this program is the CUDA one).</summary>
    public static ComputeEnvironment Choose(string? device, bool bf16, bool fp16, bool cudaAvailable, bool cudaBuild, DistributedEnvironment distributed)
    {
        var localCuda = new Device(TorchSharp.DeviceType.CUDA, distributed.LocalRank);
        var (resolved, reason) = device switch
        {
            null or "auto" when cudaAvailable => (localCuda, "--device auto: CUDA is available"),
            null or "auto" => (CPU, cudaBuild ? "--device auto: no CUDA device is visible" : "--device auto: this build's libtorch is CPU-only"),
            "cpu" => (CPU, "--device cpu"),
            "cuda" when cudaAvailable => (localCuda, "--device cuda"),
            "cuda" when cudaBuild => throw new QwenTuneException(
                "--device cuda: this build carries CUDA libtorch, but no CUDA device is visible (check nvidia-smi and CUDA_VISIBLE_DEVICES)."),
            "cuda" => throw new QwenTuneException(
                "--device cuda: this build's libtorch is CPU-only (the build property QwenTuneTorchBackend is cpu, the default). " +
                "On a CUDA machine build with -p:QwenTuneTorchBackend=cuda (libtorch-cuda-12.8-linux-x64), or use --device cpu."),
            _ => throw new QwenTuneException($"--device '{device}' must be auto, cpu or cuda."),
        };
        if (bf16 && fp16)
            throw new QwenTuneException("--bf16 and --fp16 are exclusive: choose one.");
        if (fp16 && resolved.type != TorchSharp.DeviceType.CUDA)
            throw new QwenTuneException(
                "--fp16 needs CUDA: libtorch's float16 matrix products on CPU run about 100 times slower than bfloat16. Use --bf16 True on CPU.");
        var dtype = bf16 ? ScalarType.BFloat16 : fp16 ? ScalarType.Float16 : ScalarType.Float32;
        return new ComputeEnvironment(resolved, dtype) { Reason = reason, Ranks = distributed.WorldSize };
    }

    /// <summary>Whether the libtorch this program runs on has CUDA: libtorch_cuda.so ships beside it (runtimes/&lt;rid&gt;/native).</summary>
    public static bool BuildHasCuda()
    {
        var native = Path.Combine(AppContext.BaseDirectory, "runtimes");
        return File.Exists(Path.Combine(AppContext.BaseDirectory, "libtorch_cuda.so"))
            || (Directory.Exists(native) && Directory.EnumerateFiles(native, "libtorch_cuda.so", SearchOption.AllDirectories).Any());
    }
}
