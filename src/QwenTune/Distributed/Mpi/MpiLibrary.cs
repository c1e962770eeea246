using System.Runtime.InteropServices;
using System.Text;

namespace QwenTune.Distributed.Mpi;

/// <summary>
/// Loads <c>libmpi.so.40</c> and resolves Open MPI's predefined handles, which are the addresses of exported
/// globals (<c>MPI_COMM_WORLD</c> is <c>&amp;ompi_mpi_comm_world</c> in Open MPI's mpi.h).
/// </summary>
internal static unsafe class MpiLibrary
{
    private static readonly Lazy<MpiHandles> LoadedHandles = new(Load);

    public static MpiHandles Handles => LoadedHandles.Value;

    /// <summary>Throws <see cref="QwenTuneException"/> naming <paramref name="function"/> when <paramref name="code"/> is an MPI error.</summary>
    public static void Check(int code, string function)
    {
        if (code != MpiNative.Success)
            throw new QwenTuneException($"{function} failed with MPI error {code}: {ErrorString(code)}");
    }

    public static string LibraryVersion()
    {
        var buffer = stackalloc byte[MpiNative.MaxStringLength + 1];
        int length;
        Check(MpiNative.MPI_Get_library_version(buffer, &length), "MPI_Get_library_version");
        return Encoding.ASCII.GetString(buffer, length).TrimEnd('\0', '\n', ' ');
    }

    private static string ErrorString(int code)
    {
        var buffer = stackalloc byte[MpiNative.MaxStringLength + 1];
        int length;
        return MpiNative.MPI_Error_string(code, buffer, &length) == MpiNative.Success
            ? Encoding.ASCII.GetString(buffer, length).TrimEnd('\0')
            : "(no description)";
    }

    private static MpiHandles Load()
    {
        if (!NativeLibrary.TryLoad(MpiNative.LibraryName, typeof(MpiLibrary).Assembly, null, out var library))
            throw new QwenTuneException(
                $"Could not load Open MPI ({MpiNative.LibraryName}). Multi-process training needs Open MPI 4.x: " +
                "on Debian/Ubuntu run `apt-get install openmpi-bin libopenmpi-dev`, then launch with `mpirun -np N ...`.");
        IntPtr Export(string name) => NativeLibrary.TryGetExport(library, name, out var address)
            ? address
            : throw new QwenTuneException($"{MpiNative.LibraryName} does not export {name}: it is not Open MPI 4.x. Install openmpi-bin and libopenmpi-dev.");
        return new MpiHandles(
            CommWorld: Export("ompi_mpi_comm_world"),
            Float: Export("ompi_mpi_float"),
            Double: Export("ompi_mpi_double"),
            Int64: Export("ompi_mpi_int64_t"),
            Byte: Export("ompi_mpi_byte"),
            Sum: Export("ompi_mpi_op_sum"),
            Max: Export("ompi_mpi_op_max"),
            ErrorsReturn: Export("ompi_mpi_errors_return"));
    }
}
