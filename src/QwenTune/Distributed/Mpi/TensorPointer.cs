using System.Runtime.InteropServices;
using static TorchSharp.torch;

namespace QwenTune.Distributed.Mpi;

/// <summary>
/// The address of a tensor's first element (storage offset included), so MPI and NCCL read and write the tensor's
/// own memory with no managed copy. TorchSharp 0.107 exposes it only through spans capped at 2 GB.
/// </summary>
internal static partial class TensorPointer
{
    [LibraryImport("LibTorchSharp")]
    private static partial IntPtr THSTensor_data(IntPtr handle);

    public static IntPtr Of(Tensor tensor) => THSTensor_data(tensor.Handle);
}
