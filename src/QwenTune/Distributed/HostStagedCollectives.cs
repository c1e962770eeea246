using TorchSharp;
using QwenTune.Distributed.Mpi;
using static TorchSharp.torch;

namespace QwenTune.Distributed;

/// <summary>
/// CUDA tensors over MPI when NCCL is absent: each tensor is copied to host memory, reduced there by
/// <see cref="MpiCollectives"/>, and copied back. Correct but bounded by PCIe and host bandwidth; NCCL is the fast path.
/// Untested here: the development machine has no GPU.
/// </summary>
internal sealed class HostStagedCollectives(MpiCollectives mpi) : ICollectives
{
    public int Rank => mpi.Rank;

    public int WorldSize => mpi.WorldSize;

    public string Description => mpi.Description.Replace("CPU tensors over MPI", "CUDA tensors staged through host memory over MPI (NCCL not found)", StringComparison.Ordinal);

    public void AllReduceSum(Tensor tensor) => Staged(tensor, mpi.AllReduceSum);

    public double AllReduceSum(double value) => mpi.AllReduceSum(value);

    public double AllReduceMax(double value) => mpi.AllReduceMax(value);

    public void ReduceScatterSum(Tensor input, Tensor output)
    {
        using var scope = NewDisposeScope();
        var hostOutput = OnHost(output, copyValues: false);
        mpi.ReduceScatterSum(OnHost(input, copyValues: true), hostOutput);
        CopyBack(hostOutput, output);
    }

    public void AllGather(Tensor input, Tensor output)
    {
        using var scope = NewDisposeScope();
        var hostOutput = OnHost(output, copyValues: false);
        mpi.AllGather(OnHost(input, copyValues: true), hostOutput);
        CopyBack(hostOutput, output);
    }

    public void Gather(Tensor input, Tensor? output, int root)
    {
        using var scope = NewDisposeScope();
        var hostOutput = output is null ? null : OnHost(output, copyValues: false);
        mpi.Gather(OnHost(input, copyValues: true), hostOutput, root);
        if (output is not null)
            CopyBack(hostOutput!, output);
    }

    public void Broadcast(Tensor tensor, int root) => Staged(tensor, host => mpi.Broadcast(host, root));

    // Staging is synchronous (device-to-host copies block anyway); the request is already complete.
    public ICollectiveRequest AllReduceSumAsync(Tensor tensor) => CompletedRequest.After(() => AllReduceSum(tensor));

    public ICollectiveRequest ReduceScatterSumAsync(Tensor input, Tensor output) => CompletedRequest.After(() => ReduceScatterSum(input, output));

    public void Barrier() => mpi.Barrier();

    public void Abort(int errorCode) => mpi.Abort(errorCode);

    public void Dispose() => mpi.Dispose();

    private static void Staged(Tensor tensor, Action<Tensor> collective)
    {
        using var scope = NewDisposeScope();
        var host = OnHost(tensor, copyValues: true);
        collective(host);
        CopyBack(host, tensor);
    }

    private static Tensor OnHost(Tensor tensor, bool copyValues)
    {
        if (tensor.device_type == DeviceType.CPU && tensor.is_contiguous())
            return tensor;
        return copyValues ? tensor.to(CPU).contiguous() : empty(tensor.shape, tensor.dtype, CPU);
    }

    private static void CopyBack(Tensor host, Tensor destination)
    {
        if (ReferenceEquals(host, destination))
            return;
        using (no_grad())
            destination.copy_(host);
    }
}
