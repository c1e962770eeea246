using System.Runtime.InteropServices;

namespace QwenTune.Distributed.Nccl;

/// <summary>
/// cudaSetDevice from the CUDA runtime: NCCL binds a communicator to the calling thread's current device, and
/// TorchSharp offers no way to set it. Untested: written without a GPU.
/// </summary>
internal static unsafe class CudaRuntime
{
    private static readonly string[] LibraryNames = ["libcudart.so.12", "libcudart.so.13", "libcudart.so"];

    public static void SetDevice(int index)
    {
        foreach (var name in LibraryNames)
        {
            if (!NativeLibrary.TryLoad(name, out var library))
                continue;
            var setDevice = (delegate* unmanaged<int, int>)NativeLibrary.GetExport(library, "cudaSetDevice");
            var error = setDevice(index);
            if (error != 0)
                throw new QwenTuneException($"cudaSetDevice({index}) failed with CUDA error {error}; does this node have {index + 1} GPU(s)?");
            return;
        }
        if (index != 0)
            throw new QwenTuneException($"NCCL needs CUDA device {index} to be current, but no CUDA runtime library ({string.Join(", ", LibraryNames)}) could be loaded to select it.");
    }
}
