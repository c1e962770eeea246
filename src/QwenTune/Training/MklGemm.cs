using System.Runtime.InteropServices;

namespace QwenTune.Training;

/// <summary>
/// The single-precision GEMM of the MKL that libtorch's CPU build links statically and exports (Fortran <c>sgemm_</c>,
/// column-major), with MKL's per-thread thread count, so that each of several .NET threads can run its own
/// single-threaded product on data that stays in its core's cache (<see cref="ThreadedHead"/>). Unavailable (and never
/// called) where libtorch_cpu exports neither, e.g. a build on another BLAS. Also the per-thread OpenMP thread count of
/// the libgomp libtorch loaded, so that such a thread can run libtorch's own products (bf16 on oneDNN) on its core alone.
/// </summary>
internal static unsafe class MklGemm
{
    private static readonly delegate* unmanaged<byte*, byte*, int*, int*, int*, float*, float*, int*, float*, int*, float*, float*, int*, void> Sgemm;
    private static readonly delegate* unmanaged<int*, int> SetThreadsLocal;
    private static readonly delegate* unmanaged<int, void> OmpSetNumThreads;
    private static readonly delegate* unmanaged<int> OmpGetMaxThreads;

    static MklGemm()
    {
        // The copy TorchSharp loaded: made sure of by touching libtorch first, then found among the mapped files.
        _ = TorchSharp.torch.get_num_threads();
        var path = LoadedPath(name => name == "libtorch_cpu.so");
        // libtorch's wheel-style build ships its own libgomp under a hashed name (libgomp-<hash>.so.1).
        if (LoadedPath(name => name.StartsWith("libgomp", StringComparison.Ordinal)) is { } gomp && NativeLibrary.TryLoad(gomp, out var openMp)
            && NativeLibrary.TryGetExport(openMp, "omp_set_num_threads", out var setThreads) && NativeLibrary.TryGetExport(openMp, "omp_get_max_threads", out var getThreads))
        {
            OmpSetNumThreads = (delegate* unmanaged<int, void>)setThreads;
            OmpGetMaxThreads = (delegate* unmanaged<int>)getThreads;
        }
        if (path is null || !NativeLibrary.TryLoad(path, out var library))
            return;
        if (NativeLibrary.TryGetExport(library, "sgemm_", out var sgemm) && NativeLibrary.TryGetExport(library, "mkl_set_num_threads_local", out var local))
        {
            Sgemm = (delegate* unmanaged<byte*, byte*, int*, int*, int*, float*, float*, int*, float*, int*, float*, float*, int*, void>)sgemm;
            SetThreadsLocal = (delegate* unmanaged<int*, int>)local;
        }
    }

    /// <summary>The path of a shared library this process has mapped, from /proc/self/maps (Linux); null elsewhere.</summary>
    private static string? LoadedPath(Func<string, bool> fileName)
    {
        try
        {
            return File.ReadLines("/proc/self/maps")
                .Select(line => line.IndexOf('/', StringComparison.Ordinal) is var at and >= 0 ? line[at..] : "")
                .FirstOrDefault(path => path.Length > 0 && fileName(Path.GetFileName(path)));
        }
        catch (IOException)
        {
            return null;
        }
        catch (UnauthorizedAccessException)
        {
            return null;
        }
    }

    public static bool Available => Sgemm != null;

    /// <summary>
    /// Row-major C (m x n) = alpha op(A) op(B) + beta C, op(A) (m x k), op(B) (k x n); lda, ldb, ldc are the row-major
    /// leading dimensions. Expressed to the column-major routine as C^T = op(B)^T op(A)^T.
    /// </summary>
    public static void Multiply(bool transposeA, bool transposeB, int m, int n, int k, float alpha, float* a, int lda, float* b, int ldb,
        float beta, float* c, int ldc)
    {
        byte transB = transposeB ? (byte)'T' : (byte)'N', transA = transposeA ? (byte)'T' : (byte)'N';
        Sgemm(&transB, &transA, &n, &m, &k, &alpha, b, &ldb, a, &lda, &beta, c, &ldc);
    }

    public static bool OpenMpAvailable => OmpSetNumThreads != null;

    /// <summary>OpenMP threads for libtorch ops called from this thread (its own ICV); returns the previous value.</summary>
    public static int SetOpenMpThreadsForThisThread(int threads)
    {
        var previous = OmpGetMaxThreads();
        OmpSetNumThreads(threads);
        return previous;
    }

    /// <summary>
    /// Until disposed, libtorch ops called from this thread run on it alone (its OpenMP thread count set to one, after
    /// libtorch's first-use setting on this thread, which would otherwise override it).
    /// </summary>
    public static SingleThreadScope SingleOpenMpThread()
    {
        _ = TorchSharp.torch.get_num_threads();   // libtorch's lazy per-thread setting happens here, not after ours
        return new SingleThreadScope(SetOpenMpThreadsForThisThread(1));
    }

    /// <summary>Restores the thread's OpenMP count; the default value restores nothing.</summary>
    public readonly struct SingleThreadScope(int previous) : IDisposable
    {
        public void Dispose()
        {
            if (previous > 0)
                SetOpenMpThreadsForThisThread(previous);
        }
    }

    /// <summary>MKL threads for products called from this thread (0: back to the process's setting); returns the previous value.</summary>
    /// <remarks>The exported name is MKL's Fortran-style entry (the same address as MKL_SET_NUM_THREADS_LOCAL): it takes the count by reference.</remarks>
    public static int SetThreadsForThisThread(int threads) => SetThreadsLocal(&threads);
}
