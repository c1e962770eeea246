namespace QwenTune;

/// <summary>Process memory figures from /proc (Linux), for summaries and benchmarks.</summary>
public static class Memory
{
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
