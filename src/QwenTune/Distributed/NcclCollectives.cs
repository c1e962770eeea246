using QwenTune.Distributed.Mpi;
using QwenTune.Distributed.Nccl;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Distributed;

/// <summary>
/// Collectives on CUDA tensors through NCCL, one communicator per process over MPI_COMM_WORLD's ranks. MPI carries
/// the NCCL unique id from rank 0 and the scalar reductions. NCCL kernels run on the default CUDA stream (stream 0),
/// which is where TorchSharp enqueues its own work (it exposes no current-stream handle), so results are ordered
/// before any later tensor operation without a synchronisation; the async requests are therefore complete at once.
/// As on MPI, bfloat16/float16 sums are accumulated in float32. UNTESTED: written against nccl.h without a GPU.
/// </summary>
public sealed unsafe class NcclCollectives : ICollectives
{
    // Gathers and broadcasts move bytes (ncclUint8), so they take any dtype.
    private const int Bytes = 1;
    private static readonly IntPtr DefaultStream = IntPtr.Zero;

    private readonly NcclLibrary _nccl;
    private readonly MpiCollectives _mpi;
    private IntPtr _communicator;

    internal NcclCollectives(NcclLibrary nccl, MpiCollectives mpi, int deviceIndex)
    {
        _nccl = nccl;
        _mpi = mpi;
        CudaRuntime.SetDevice(deviceIndex);
        var id = new NcclUniqueId();
        if (mpi.Rank == 0)
            nccl.Check(nccl.GetUniqueId(&id), "ncclGetUniqueId");
        mpi.Broadcast(id, root: 0);
        IntPtr communicator;
        nccl.Check(nccl.CommInitRank(&communicator, mpi.WorldSize, id, mpi.Rank), "ncclCommInitRank");
        _communicator = communicator;
        Description = mpi.Description.Replace("CPU tensors over MPI", "CUDA tensors over NCCL", StringComparison.Ordinal);
    }

    public int Rank => _mpi.Rank;

    public int WorldSize => _mpi.WorldSize;

    public string Description { get; }

    public void AllReduceSum(Tensor tensor)
    {
        RequireCudaTensor(tensor, nameof(AllReduceSum));
        using var scope = NewDisposeScope();
        var buffer = SummableBuffer(tensor);
        var address = TensorPointer.Of(buffer);
        _nccl.Check(_nccl.AllReduce(address, address, (nuint)buffer.NumberOfElements, SumDatatype(buffer.dtype), NcclLibrary.Sum, _communicator, DefaultStream), "ncclAllReduce");
        CopyBack(buffer, tensor);
    }

    public double AllReduceSum(double value) => _mpi.AllReduceSum(value);

    public double AllReduceMax(double value) => _mpi.AllReduceMax(value);

    public void ReduceScatterSum(Tensor input, Tensor output)
    {
        RequireCudaTensor(input, nameof(ReduceScatterSum));
        RequireCudaTensor(output, nameof(ReduceScatterSum));
        if (input.NumberOfElements != output.NumberOfElements * WorldSize || input.dtype != output.dtype)
            throw new QwenTuneException($"{nameof(ReduceScatterSum)}: input needs WorldSize * n elements and output n of the same dtype; got {input.NumberOfElements} {input.dtype} and {output.NumberOfElements} {output.dtype}.");
        using var scope = NewDisposeScope();
        var send = SummableBuffer(input);
        var receive = ReferenceEquals(send, input) ? output : empty(output.NumberOfElements, ScalarType.Float32, output.device);
        _nccl.Check(_nccl.ReduceScatter(TensorPointer.Of(send), TensorPointer.Of(receive), (nuint)output.NumberOfElements, SumDatatype(send.dtype), NcclLibrary.Sum, _communicator, DefaultStream), "ncclReduceScatter");
        CopyBack(receive, output);
    }

    public void AllGather(Tensor input, Tensor output)
    {
        RequireCudaTensor(input, nameof(AllGather));
        RequireCudaTensor(output, nameof(AllGather));
        if (output.NumberOfElements != input.NumberOfElements * WorldSize || input.dtype != output.dtype)
            throw new QwenTuneException($"{nameof(AllGather)}: input needs n elements and output WorldSize * n of the same dtype; got {input.NumberOfElements} {input.dtype} and {output.NumberOfElements} {output.dtype}.");
        var bytes = (nuint)(input.NumberOfElements * input.ElementSize);
        _nccl.Check(_nccl.AllGather(TensorPointer.Of(input), TensorPointer.Of(output), bytes, Bytes, _communicator, DefaultStream), "ncclAllGather");
    }

    public void Broadcast(Tensor tensor, int root)
    {
        RequireCudaTensor(tensor, nameof(Broadcast));
        var address = TensorPointer.Of(tensor);
        _nccl.Check(_nccl.Broadcast(address, address, (nuint)(tensor.NumberOfElements * tensor.ElementSize), Bytes, root, _communicator, DefaultStream), "ncclBroadcast");
    }

    public ICollectiveRequest AllReduceSumAsync(Tensor tensor) => CompletedRequest.After(() => AllReduceSum(tensor));

    public ICollectiveRequest ReduceScatterSumAsync(Tensor input, Tensor output) => CompletedRequest.After(() => ReduceScatterSum(input, output));

    public void Barrier() => _mpi.Barrier();

    public void Abort(int errorCode) => _mpi.Abort(errorCode);

    public void Dispose()
    {
        if (_communicator != IntPtr.Zero)
        {
            _nccl.CommDestroy(_communicator);
            _communicator = IntPtr.Zero;
        }
        _mpi.Dispose();
    }

    private static Tensor SummableBuffer(Tensor tensor) =>
        tensor.dtype is ScalarType.BFloat16 or ScalarType.Float16 ? tensor.to(ScalarType.Float32) : tensor;

    private static int SumDatatype(ScalarType dtype) => dtype switch
    {
        ScalarType.Float32 => NcclLibrary.Float32,
        ScalarType.Float64 => NcclLibrary.Float64,
        ScalarType.Int64 => NcclLibrary.Int64,
        _ => throw new QwenTuneException($"NCCL sums float32, float64, int64, bfloat16 and float16 tensors, not {dtype}."),
    };

    private static void CopyBack(Tensor reduced, Tensor destination)
    {
        if (ReferenceEquals(reduced, destination))
            return;
        using (no_grad())
            destination.copy_(reduced.view(destination.shape));
    }

    private static void RequireCudaTensor(Tensor tensor, string operation)
    {
        if (tensor.device_type != DeviceType.CUDA || !tensor.is_contiguous())
            throw new QwenTuneException($"{operation}: NCCL needs contiguous CUDA tensors, got a {tensor.device} tensor{(tensor.is_contiguous() ? "" : " (non-contiguous)")}.");
    }
}
