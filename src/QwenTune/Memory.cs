namespace QwenTune;

/// <summary>Process memory figures from /proc (Linux), for summaries and benchmarks.</summary>
public static partial class Memory
{
    private static bool s_trimUnavailable;

    /// <summary>
    /// Frees what only finalizers would free, then hands the pages glibc keeps after frees back to the system
    /// (malloc_trim). Some tensors of a step (autograd's saved tensors, wrappers TorchSharp makes internally) are
    /// released by their finalizers, which run only when the small managed heap is collected: hundreds of megabytes of
    /// native memory came and went with the .NET collections, a sawtooth of 644-1,331 MB over 500 steps of the default
    /// model (bench rss-soak), flat once collected after every step. A step's wrappers die young, so the collection
    /// after each step is of the young generations, and every <see cref="StepsPerFullCollection"/>th a full, compacting
    /// one. A full collection after every step cost 12-15 ms of each (bench rss-soak, a step of ~0.1 s) against 2-3 ms,
    /// and its committed managed memory crept up by 38 MB over 500 steps (71 -> 109 MB) where the young collections
    /// keep it within 2 MB. libtorch's CPU tensors are malloc'ed and freed every step, and glibc keeps the freed pages
    /// of its heaps. malloc_trim is a no-op where the C library has none (musl, macOS).
    /// </summary>
    public static void ReturnFreedPages()
    {
        if (++s_stepsSinceFullCollection >= StepsPerFullCollection)
        {
            s_stepsSinceFullCollection = 0;
            GC.Collect(GC.MaxGeneration, GCCollectionMode.Forced, blocking: true, compacting: true);
        }
        else
        {
            GC.Collect(1, GCCollectionMode.Forced, blocking: true);
        }
        GC.WaitForPendingFinalizers();
        if (!OperatingSystem.IsLinux())
            return;
        if (Runtime.NativeAllocator.KeepsPages)
            s_keptPages.AfterStep(CurrentRssBytes());
        if (s_trimUnavailable)
            return;
        try
        {
            MallocTrim(0);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            s_trimUnavailable = true;
        }
    }

    /// <summary>
    /// Steps between full collections in <see cref="ReturnFreedPages"/>; those between collect the young generations,
    /// where a step's garbage is. The full one frees what outlived a step or two, and compacts the heap.
    /// </summary>
    internal const int StepsPerFullCollection = 20;

    private static int s_stepsSinceFullCollection;

    private static readonly KeptPagesPolicy s_keptPages = new();

    /// <summary>
    /// Before each training step: where jemalloc keeps freed pages for the run (<see cref="Runtime.NativeAllocator.KeepPages"/>),
    /// hands them all back once resident memory after a step has grown past <see cref="KeptPagesPolicy.AllowedGrowth"/>
    /// over the working set (<see cref="KeptPagesPolicy"/>): pages kept in sizes later steps do
    /// not ask for otherwise add up (1,053 -> 1,457 MB over 500 steps of bench rss-soak before the extent fit of
    /// <see cref="Runtime.NativeAllocator.KeepPages"/>, which leaves a slow creep). The step that follows faults
    /// its working set in again, and the measure starts over from it.
    /// </summary>
    public static void BeforeStep()
    {
        if (OperatingSystem.IsLinux() && s_keptPages.BeforeStep())
            Runtime.NativeAllocator.HandBackKeptPages();
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

    /// <summary>
    /// Keeps what glibc frees within a training step for the step's next allocations, leaving the hand-back to
    /// <see cref="ReturnFreedPages"/> after each step. Tensors of tens of megabytes come and go with every micro-batch
    /// (a 151,936 x 64 bf16 embedding gradient is 19 MB): by default glibc maps each above an adaptive threshold and
    /// unmaps it when freed, and trims its heap past twice that threshold, so every micro-batch faults its pages in
    /// again (a sixth of the embedded default run's samples were page faults). Fixed at glibc's largest mapping
    /// threshold, 32 MB, and with no trimming on free. No-op where the C library has no mallopt.
    /// </summary>
    public static void KeepFreedPagesWithinStep()
    {
        if (s_trimUnavailable || !OperatingSystem.IsLinux())
            return;
        try
        {
            const int trimThreshold = -1, mmapThreshold = -3;
            Mallopt(mmapThreshold, 32 << 20);
            Mallopt(trimThreshold, 1 << 30);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            s_trimUnavailable = true;
        }
    }

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "mallopt")]
    private static partial int Mallopt(int parameter, int value);

    /// <summary>Peak resident set size (VmHWM) in bytes, or 0 where /proc is unavailable.</summary>
    public static long PeakRssBytes() => ReadStatusKilobytes("VmHWM:") * 1024;

    /// <summary>Current resident set size (VmRSS) in bytes.</summary>
    public static long CurrentRssBytes() => ReadStatusKilobytes("VmRSS:") * 1024;

    /// <summary>Memory the kernel can give new allocations without swapping (MemAvailable), in bytes; 0 where /proc is unavailable.</summary>
    public static long AvailableBytes() => ReadKilobytes("/proc/meminfo", "MemAvailable:") * 1024;

    private static long ReadStatusKilobytes(string key) => ReadKilobytes("/proc/self/status", key);

    private static long ReadKilobytes(string file, string key)
    {
        try
        {
            foreach (var line in File.ReadLines(file))
            {
                if (line.StartsWith(key, StringComparison.Ordinal))
                    return long.Parse(line[key.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            }
        }
        catch (IOException)
        {
        }
        return 0;
    }
}
