using System.Runtime.InteropServices;

namespace QwenTune.Distributed.Mpi;

/// <summary>
/// The few MPI-3 entry points QwenTune needs, bound to Open MPI's <c>libmpi.so.40</c>. MPI.NET is built for
/// Windows MS-MPI, so this binds the C API directly. Open MPI's handles (communicator, datatype, op,
/// errhandler) are pointers to exported globals, which <see cref="MpiLibrary"/> resolves.
/// </summary>
internal static unsafe partial class MpiNative
{
    public const string LibraryName = "libmpi.so.40";

    public const int Success = 0;

    /// <summary>Only the thread that initialised MPI calls it: the trainer drives collectives from one thread.</summary>
    public const int ThreadFunneled = 1;

    /// <summary>Open MPI's MPI_MAX_LIBRARY_VERSION_STRING and MPI_MAX_ERROR_STRING are both 256.</summary>
    public const int MaxStringLength = 256;

    public static readonly IntPtr InPlace = 1;

    public static readonly IntPtr StatusIgnore = IntPtr.Zero;

    [LibraryImport(LibraryName)]
    public static partial int MPI_Init_thread(int* argc, byte*** argv, int required, int* provided);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Initialized(int* flag);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Finalized(int* flag);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Finalize();

    [LibraryImport(LibraryName)]
    public static partial int MPI_Comm_rank(IntPtr comm, int* rank);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Comm_size(IntPtr comm, int* size);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Comm_set_errhandler(IntPtr comm, IntPtr errhandler);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Allreduce(IntPtr sendbuf, IntPtr recvbuf, int count, IntPtr datatype, IntPtr op, IntPtr comm);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Iallreduce(IntPtr sendbuf, IntPtr recvbuf, int count, IntPtr datatype, IntPtr op, IntPtr comm, IntPtr* request);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Reduce_scatter_block(IntPtr sendbuf, IntPtr recvbuf, int recvcount, IntPtr datatype, IntPtr op, IntPtr comm);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Ireduce_scatter_block(IntPtr sendbuf, IntPtr recvbuf, int recvcount, IntPtr datatype, IntPtr op, IntPtr comm, IntPtr* request);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Allgather(IntPtr sendbuf, int sendcount, IntPtr sendtype, IntPtr recvbuf, int recvcount, IntPtr recvtype, IntPtr comm);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Gather(IntPtr sendbuf, int sendcount, IntPtr sendtype, IntPtr recvbuf, int recvcount, IntPtr recvtype, int root, IntPtr comm);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Bcast(IntPtr buffer, int count, IntPtr datatype, int root, IntPtr comm);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Barrier(IntPtr comm);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Wait(IntPtr* request, IntPtr status);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Test(IntPtr* request, int* flag, IntPtr status);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Abort(IntPtr comm, int errorcode);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Get_library_version(byte* version, int* resultlen);

    [LibraryImport(LibraryName)]
    public static partial int MPI_Error_string(int errorcode, byte* text, int* resultlen);
}
