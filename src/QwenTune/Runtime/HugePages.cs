using System.Runtime.InteropServices;

namespace QwenTune.Runtime;

/// <summary>
/// Transparent huge pages for libtorch's CPU memory. A training step allocates and frees hundreds of megabytes (a 155 MB
/// bf16 weight gradient of the 89M model's vocabulary head alone), and the kernel faults each fresh 4 KB page in: in a
/// virtual machine a fifth of bench `step --model 89m --dtype bfloat16`'s samples were page faults. Where the kernel
/// gives huge pages only on request (transparent_hugepage "madvise", Debian's default), glibc's malloc requests them
/// for its heaps and large blocks when started with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (glibc 2.35 and later; older
/// ones ignore it). glibc reads its tunables once, at startup, so a process that wants them replaces itself with itself
/// started with the tunable (execve: the same pid, arguments and open files, before anything else has run); the
/// tunable in the new environment keeps it from doing so twice. QWENTUNE_HUGE_PAGES=0 leaves malloc as it is.
/// </summary>
public static unsafe partial class HugePages
{
    public const string OptOutVariable = "QWENTUNE_HUGE_PAGES";
    private const string Tunable = "glibc.malloc.hugetlb";

    /// <summary>Whether this process's malloc was started asking for huge pages.</summary>
    public static bool Requested => Environment.GetEnvironmentVariable("GLIBC_TUNABLES")?.Contains(Tunable + "=1", StringComparison.Ordinal) == true;

    /// <summary>
    /// Replaces this process with the same command under the tunable when the kernel gives huge pages on request and
    /// the C library is glibc; returns when it does not apply, is turned off, or exec fails (then nothing changes).
    /// Call it first thing in Main, before any thread of one's own or any native library.
    /// </summary>
    public static void RestartWithHugePages()
    {
        if (!OperatingSystem.IsLinux() || Environment.GetEnvironmentVariable(OptOutVariable) == "0"
            || Environment.GetEnvironmentVariable("GLIBC_TUNABLES")?.Contains(Tunable, StringComparison.Ordinal) == true
            || !KernelGivesOnRequest() || !IsGlibc())
            return;
        string[] arguments;
        try
        {
            arguments = File.ReadAllText("/proc/self/cmdline").Split('\0', StringSplitOptions.None)[..^1];
        }
        catch (IOException)
        {
            return;
        }
        if (arguments.Length == 0)
            return;
        var tunables = Environment.GetEnvironmentVariable("GLIBC_TUNABLES");
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Where(e => (string)e.Key != "GLIBC_TUNABLES")
            .Select(e => $"{e.Key}={e.Value}")
            .Append($"GLIBC_TUNABLES={(string.IsNullOrEmpty(tunables) ? "" : tunables + ":")}{Tunable}=1")
            .ToArray();
        var argv = ToNative(arguments);
        var envp = ToNative(environment);
        try
        {
            // The program's own path, not /proc/self/exe: the kernel names the process after the path it was given.
            Execve(Environment.ProcessPath ?? "/proc/self/exe", argv, envp);   // returns only on failure
        }
        finally
        {
            Free(argv);
            Free(envp);
        }
    }

    /// <summary>transparent_hugepage/enabled is "always" or "madvise" (the bracketed choice), not "never".</summary>
    private static bool KernelGivesOnRequest()
    {
        try
        {
            var mode = File.ReadAllText("/sys/kernel/mm/transparent_hugepage/enabled");
            return mode.Contains("[always]", StringComparison.Ordinal) || mode.Contains("[madvise]", StringComparison.Ordinal);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static bool IsGlibc() =>
        NativeLibrary.TryLoad("libc.so.6", out var libc) && NativeLibrary.TryGetExport(libc, "gnu_get_libc_version", out _);

    private static nint* ToNative(string[] values)
    {
        var array = (nint*)NativeMemory.AllocZeroed((nuint)(values.Length + 1), (nuint)sizeof(nint));
        for (var i = 0; i < values.Length; i++)
            array[i] = Marshal.StringToCoTaskMemUTF8(values[i]);
        return array;
    }

    private static void Free(nint* array)
    {
        for (var i = 0; array[i] != 0; i++)
            Marshal.FreeCoTaskMem(array[i]);
        NativeMemory.Free(array);
    }

    [LibraryImport("libc", EntryPoint = "execve", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Execve(string path, nint* argv, nint* envp);
}
