using QwenTune.Distributed;
using QwenTune.Runtime;
using TorchSharp;

namespace QwenTune.Tests.Runtime;

/// <summary>--device auto|cpu|cuda, the precision flags, and the startup line that reports the choice.</summary>
[Collection(ProcessWideThreads.Name)]
public sealed class ComputeEnvironmentTests
{
    private static readonly DistributedEnvironment SecondRankOfTwo = new(Rank: 1, WorldSize: 2, LocalRank: 1, LocalWorldSize: 2, NodeRank: 0, Launcher: "Open MPI");

    [Fact]
    public void Auto_takes_the_ranks_own_cuda_device_when_there_is_one_and_says_why_otherwise()
    {
        var cuda = ComputeEnvironment.Choose("auto", bf16: true, fp16: false, cudaAvailable: true, cudaBuild: true, SecondRankOfTwo);
        Assert.Equal(DeviceType.CUDA, cuda.Device.type);
        Assert.Equal(1, cuda.Device.index);
        Assert.Equal("--device auto: CUDA is available", cuda.Reason);
        Assert.Equal(torch.ScalarType.BFloat16, cuda.Dtype);

        var cpuBuild = ComputeEnvironment.Choose(null, bf16: false, fp16: false, cudaAvailable: false, cudaBuild: false, DistributedEnvironment.SingleProcess);
        Assert.Equal(DeviceType.CPU, cpuBuild.Device.type);
        Assert.Equal("--device auto: this build's libtorch is CPU-only", cpuBuild.Reason);

        var noGpu = ComputeEnvironment.Choose("auto", bf16: false, fp16: false, cudaAvailable: false, cudaBuild: true, DistributedEnvironment.SingleProcess);
        Assert.Equal("--device auto: no CUDA device is visible", noGpu.Reason);
    }

    [Fact]
    public void Cuda_on_a_cpu_only_build_names_the_build_property()
    {
        var error = Assert.Throws<QwenTuneException>(() =>
            ComputeEnvironment.Choose("cuda", false, false, cudaAvailable: false, cudaBuild: false, DistributedEnvironment.SingleProcess));
        Assert.Contains("QwenTuneTorchBackend", error.Message);
        Assert.Contains("-p:QwenTuneTorchBackend=cuda", error.Message);

        // This test build carries libtorch-cpu: the real resolution says the same.
        Assert.False(ComputeEnvironment.BuildHasCuda());
        var previous = torch.get_num_threads();
        var real = Assert.Throws<QwenTuneException>(() => ComputeEnvironment.Resolve("cuda", false, false, threads: 1));
        torch.set_num_threads(previous);   // Resolve set one thread before it found no CUDA
        Assert.Contains("QwenTuneTorchBackend", real.Message);

        var noDevice = Assert.Throws<QwenTuneException>(() =>
            ComputeEnvironment.Choose("cuda", false, false, cudaAvailable: false, cudaBuild: true, DistributedEnvironment.SingleProcess));
        Assert.Contains("no CUDA device is visible", noDevice.Message);
        Assert.Contains("CUDA_VISIBLE_DEVICES", noDevice.Message);
    }

    [Fact]
    public void The_startup_line_names_device_dtype_threads_and_ranks()
    {
        var ranks = ComputeEnvironment.Choose("cpu", false, false, cudaAvailable: false, cudaBuild: false, SecondRankOfTwo) with { Threads = 4 };
        Assert.Equal("Device cpu (--device cpu), dtype float32, 4 threads per rank, 2 ranks.", ranks.Describe());

        var one = ComputeEnvironment.Choose("auto", true, false, cudaAvailable: true, cudaBuild: true, DistributedEnvironment.SingleProcess) with { Threads = 1 };
        Assert.Equal("Device cuda:0 (--device auto: CUDA is available), dtype bfloat16, 1 thread, 1 rank.", one.Describe());
    }

    [Fact]
    public void Resolve_reports_the_threads_it_set()
    {
        var previous = torch.get_num_threads();
        try
        {
            var environment = ComputeEnvironment.Resolve("auto", false, false, threads: 1);
            Assert.Equal(1, environment.Threads);
            Assert.Equal(1, torch.get_num_threads());
            Assert.Equal(DeviceType.CPU, environment.Device.type);
        }
        finally
        {
            torch.set_num_threads(previous);
        }
    }

    [Fact]
    public void Precision_flags_are_checked_against_the_device()
    {
        var both = Assert.Throws<QwenTuneException>(() => ComputeEnvironment.Choose("cpu", true, true, false, false, DistributedEnvironment.SingleProcess));
        Assert.Contains("exclusive", both.Message);
        var fp16 = Assert.Throws<QwenTuneException>(() => ComputeEnvironment.Choose("cpu", false, true, false, false, DistributedEnvironment.SingleProcess));
        Assert.Contains("--fp16 needs CUDA", fp16.Message);
        Assert.Equal(torch.ScalarType.Float16, ComputeEnvironment.Choose("cuda", false, true, true, true, DistributedEnvironment.SingleProcess).Dtype);
    }
}

/// <summary>
/// Tests that set libtorch's thread count for the whole process run alone: a training test beside them would split its
/// sums over other thread counts (libtorch's reductions and the fused head's thread shares follow it) and lose the
/// bit-for-bit equality that resume tests assert (seen: a LoRA resume test failed 1 run in 6 of the full suite).
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class ProcessWideThreads
{
    public const string Name = "libtorch's process-wide thread count";
}
