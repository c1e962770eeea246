using System.Runtime.InteropServices;

namespace QwenTune.Distributed.Nccl;

/// <summary>
/// NCCL's C API (nccl.h, NCCL 2.x), loaded at run time from <c>libnccl.so.2</c> so that machines without NCCL
/// (this project's CPU machines; Debian 12 ships no NCCL package) still load QwenTune.
/// Untested: written against nccl.h with no GPU to run it on.
/// </summary>
internal sealed unsafe class NcclLibrary
{
    // ncclDataType_t and ncclRedOp_t values from nccl.h.
    public const int Int64 = 4, Float16 = 6, Float32 = 7, Float64 = 8, BFloat16 = 9;
    public const int Sum = 0, Max = 2;

    private NcclLibrary(IntPtr library)
    {
        IntPtr Export(string name) => NativeLibrary.GetExport(library, name);
        GetUniqueId = (delegate* unmanaged<NcclUniqueId*, int>)Export("ncclGetUniqueId");
        CommInitRank = (delegate* unmanaged<IntPtr*, int, NcclUniqueId, int, int>)Export("ncclCommInitRank");
        CommDestroy = (delegate* unmanaged<IntPtr, int>)Export("ncclCommDestroy");
        AllReduce = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)Export("ncclAllReduce");
        ReduceScatter = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)Export("ncclReduceScatter");
        AllGather = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, IntPtr, IntPtr, int>)Export("ncclAllGather");
        Broadcast = (delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int>)Export("ncclBroadcast");
        GetErrorString = (delegate* unmanaged<int, byte*>)Export("ncclGetErrorString");
    }

    public delegate* unmanaged<NcclUniqueId*, int> GetUniqueId { get; }

    /// <summary>(comm*, nranks, commId, rank).</summary>
    public delegate* unmanaged<IntPtr*, int, NcclUniqueId, int, int> CommInitRank { get; }

    public delegate* unmanaged<IntPtr, int> CommDestroy { get; }

    /// <summary>(sendbuff, recvbuff, count, datatype, op, comm, stream).</summary>
    public delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> AllReduce { get; }

    /// <summary>(sendbuff, recvbuff, recvcount, datatype, op, comm, stream).</summary>
    public delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> ReduceScatter { get; }

    /// <summary>(sendbuff, recvbuff, sendcount, datatype, comm, stream).</summary>
    public delegate* unmanaged<IntPtr, IntPtr, nuint, int, IntPtr, IntPtr, int> AllGather { get; }

    /// <summary>(sendbuff, recvbuff, count, datatype, root, comm, stream).</summary>
    public delegate* unmanaged<IntPtr, IntPtr, nuint, int, int, IntPtr, IntPtr, int> Broadcast { get; }

    public delegate* unmanaged<int, byte*> GetErrorString { get; }

    /// <summary>NCCL from the loader's search path, or null when it is not installed.</summary>
    public static NcclLibrary? TryLoad() =>
        NativeLibrary.TryLoad("libnccl.so.2", out var library) ? new NcclLibrary(library) : null;

    public void Check(int result, string function)
    {
        if (result != 0)
            throw new QwenTuneException($"{function} failed with NCCL error {result}: {Marshal.PtrToStringAnsi((IntPtr)GetErrorString(result))}");
    }
}
