using static TorchSharp.torch;

namespace QwenTune.Distributed;

/// <summary>
/// The collective operations the trainer needs across data-parallel processes. One process is
/// <see cref="SingleProcess"/>; MPI (CPU tensors) and NCCL (CUDA tensors) implement the same contract.
/// </summary>
public interface ICollectives : IDisposable
{
    int Rank { get; }

    int WorldSize { get; }

    /// <summary>Sums the tensor element-wise over all processes, in place.</summary>
    void AllReduceSum(Tensor tensor);

    /// <summary>Sums a scalar over all processes.</summary>
    double AllReduceSum(double value);

    void Barrier();
}

/// <summary>The trivial world of one process.</summary>
public sealed class SingleProcess : ICollectives
{
    public int Rank => 0;

    public int WorldSize => 1;

    public void AllReduceSum(Tensor tensor) { }

    public double AllReduceSum(double value) => value;

    public void Barrier() { }

    public void Dispose() { }
}
