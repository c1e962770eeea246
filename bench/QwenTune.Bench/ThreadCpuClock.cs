using System.Runtime.InteropServices;

namespace QwenTune.Bench;

/// <summary>
/// CPU time of the calling thread (Linux CLOCK_THREAD_CPUTIME_ID). On a shared machine wall time counts the time
/// other processes hold the core; thread CPU time is what a single-threaded benchmark itself used.
/// </summary>
internal static partial class ThreadCpuClock
{
    private const int ClockThreadCpuTimeId = 3;

    /// <summary>Seconds of CPU this thread has used, or null where the clock is unavailable (not Linux).</summary>
    public static double? Seconds()
    {
        if (!OperatingSystem.IsLinux())
            return null;
        return ClockGetTime(ClockThreadCpuTimeId, out var time) == 0 ? time.Seconds + time.Nanoseconds * 1e-9 : null;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds;
        public long Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clockId, out TimeSpec time);
}
