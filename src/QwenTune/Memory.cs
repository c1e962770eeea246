namespace QwenTune;

/// <summary>Process memory figures from /proc (Linux), for summaries and benchmarks.</summary>
public static class Memory
{
    /// <summary>Peak resident set size (VmHWM) in bytes, or 0 where /proc is unavailable.</summary>
    public static long PeakRssBytes() => ReadStatusKilobytes("VmHWM:") * 1024;

    /// <summary>Current resident set size (VmRSS) in bytes.</summary>
    public static long CurrentRssBytes() => ReadStatusKilobytes("VmRSS:") * 1024;

    private static long ReadStatusKilobytes(string key)
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/status"))
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
