using static TorchSharp.torch;

namespace QwenTune.Distributed.Mpi;

/// <summary>
/// A non-blocking MPI collective. It owns the float32 staging tensors of a bfloat16/float16 reduction, so they live
/// until MPI is done with them, and converts the result back once, when the collective completes.
/// </summary>
internal sealed unsafe class MpiRequest : ICollectiveRequest
{
    private IntPtr _request;
    private readonly Action? _onCompleted;
    private readonly Tensor[] _staging;

    public MpiRequest(IntPtr request, Action? onCompleted, params Tensor[] staging)
    {
        _request = request;
        _onCompleted = onCompleted;
        _staging = staging;
    }

    private bool _completed;

    /// <summary>Polls MPI with MPI_Test, which also lets Open MPI progress the collective, and finishes the request if it is done.</summary>
    public bool IsCompleted
    {
        get
        {
            if (!_completed)
                Test();
            return _completed;
        }
    }

    private void Test()
    {
        int done;
        fixed (IntPtr* request = &_request)
            MpiLibrary.Check(MpiNative.MPI_Test(request, &done, MpiNative.StatusIgnore), "MPI_Test");
        if (done != 0)
            Complete();
    }

    public void Wait()
    {
        if (_completed)
            return;
        fixed (IntPtr* request = &_request)
            MpiLibrary.Check(MpiNative.MPI_Wait(request, MpiNative.StatusIgnore), "MPI_Wait");
        Complete();
    }

    // MPI may still write into the tensors of an unfinished request: freeing them first would corrupt memory.
    public void Dispose() => Wait();

    private void Complete()
    {
        _completed = true;
        try
        {
            _onCompleted?.Invoke();
        }
        finally
        {
            foreach (var tensor in _staging)
                tensor.Dispose();
        }
    }
}
