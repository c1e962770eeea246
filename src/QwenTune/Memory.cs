namespace QwenTune;

/// <summary>Process memory figures from /proc (Linux), for summaries and benchmarks.</summary>
public static partial class Memory
{
    private static bool s_trimUnavailable;

    /// <summary>
    /// Hands the pages glibc keeps after frees back to the system (malloc_trim). libtorch's CPU tensors are
    /// malloc'ed and freed every step; glibc keeps the freed pages of its heaps, so without this the resident size
    /// creeps up over a run though nothing leaks. A no-op where the C library has no malloc_trim (musl, macOS).
    /// </summary>
    public static void ReturnFreedPages()
    {
        if (s_trimUnavailable || !OperatingSystem.IsLinux())
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

    [System.Runtime.InteropServices.LibraryImport("libc", EntryPoint = "malloc_trim")]
    private static partial int MallocTrim(nuint pad);

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
