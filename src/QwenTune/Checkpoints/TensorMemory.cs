using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Checkpoints;

/// <summary>
/// Moves bytes between files and a CPU tensor's own memory, so loading or saving a tensor never stages it in a
/// managed buffer. TorchSharp exposes the data pointer only through <c>Tensor.bytes</c>, whose Span caps a tensor
/// at 2 GB, so this calls the same native entry point (<c>THSTensor_data</c>) directly.
/// </summary>
internal static unsafe class TensorMemory
{
    // Spans are int-indexed: move large tensors in pieces.
    private const int ChunkBytes = 64 << 20;

    [DllImport("LibTorchSharp")]
    private static extern IntPtr THSTensor_data(IntPtr handle);

    /// <summary>The first element of <paramref name="tensor"/> (CPU, contiguous; the caller keeps it alive).</summary>
    public static void* DataPointer(Tensor tensor) => (void*)THSTensor_data(tensor.Handle);

    /// <summary>Whether <paramref name="tensor"/>'s memory can be written in place: CPU and contiguous.</summary>
    public static bool IsDirectlyAddressable(Tensor tensor) =>
        tensor.device_type == DeviceType.CPU && tensor.is_contiguous();

    /// <summary>Fills <paramref name="destination"/> (CPU, contiguous) with the bytes at <paramref name="fileOffset"/>.</summary>
    public static void ReadFrom(SafeFileHandle file, long fileOffset, Tensor destination, string path)
    {
        var total = destination.NumberOfElements * destination.ElementSize;
        if (total == 0)
            return;
        var data = (byte*)THSTensor_data(destination.Handle);
        for (long done = 0; done < total;)
        {
            var span = new Span<byte>(data + done, (int)Math.Min(ChunkBytes, total - done));
            var read = RandomAccess.Read(file, span, fileOffset + done);
            if (read == 0)
                throw new QwenTuneException($"{path}: the file ended at byte {fileOffset + done} while reading tensor data; it was truncated while open.");
            done += read;
        }
    }

    /// <summary>Writes the bytes of <paramref name="source"/> (CPU, contiguous) to <paramref name="stream"/>.</summary>
    public static void WriteTo(Stream stream, Tensor source)
    {
        var total = source.NumberOfElements * source.ElementSize;
        if (total == 0)
            return;
        var data = (byte*)THSTensor_data(source.Handle);
        for (long done = 0; done < total; done += ChunkBytes)
            stream.Write(new ReadOnlySpan<byte>(data + done, (int)Math.Min(ChunkBytes, total - done)));
    }
}
