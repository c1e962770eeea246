using QwenTune.Distributed;
using static TorchSharp.torch;

namespace QwenTune.Runtime;

/// <summary>Where and in which precision to compute, resolved from --device, --bf16, --fp16 and the machine.</summary>
public sealed record ComputeEnvironment(Device Device, ScalarType Dtype)
{
    public bool IsCuda => Device.type == TorchSharp.DeviceType.CUDA;

    /// <param name="distributed">
    /// This process's place in a data-parallel job: its ranks on one node share the cores (each takes its share of
    /// threads unless <paramref name="threads"/> says otherwise) and, on CUDA, rank r of the node takes device r.
    /// </param>
    public static ComputeEnvironment Resolve(string? device, bool bf16, bool fp16, int? threads = null, DistributedEnvironment? distributed = null)
    {
        distributed ??= DistributedEnvironment.SingleProcess;
        set_num_threads(threads is > 0 ? threads.Value : distributed.ThreadsPerRank(Environment.ProcessorCount));
        var cudaAvailable = TorchSharp.torch.cuda.is_available();
        var localCuda = cudaAvailable ? new Device(TorchSharp.DeviceType.CUDA, distributed.LocalRank) : CPU;
        var resolved = device switch
        {
            null => cudaAvailable ? localCuda : CPU,
            "cpu" => CPU,
            "cuda" when cudaAvailable => localCuda,
            "cuda" => throw new QwenTuneException(
                "--device cuda: no CUDA device is available to this build. The default build carries libtorch-cpu; " +
                "on a CUDA machine build with -p:QwenTuneTorchBackend=cuda (libtorch-cuda-12.8-linux-x64)."),
            _ => throw new QwenTuneException($"--device '{device}' must be cpu or cuda."),
        };
        if (bf16 && fp16)
            throw new QwenTuneException("--bf16 and --fp16 are exclusive: choose one.");
        if (fp16 && resolved.type != TorchSharp.DeviceType.CUDA)
            throw new QwenTuneException(
                "--fp16 needs CUDA: libtorch's float16 matrix products on CPU run about 100 times slower than bfloat16. Use --bf16 True on CPU.");
        var dtype = bf16 ? ScalarType.BFloat16 : fp16 ? ScalarType.Float16 : ScalarType.Float32;
        return new ComputeEnvironment(resolved, dtype);
    }
}
