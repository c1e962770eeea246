using System.Runtime.InteropServices;

namespace QwenTune.Runtime;

/// <summary>
/// The C allocator under libtorch's CPU memory. A training step allocates and frees hundreds of megabytes (the 89M
/// model's bf16 vocabulary-head gradient alone is 155 MB), and glibc's malloc hands them back to the kernel, which
/// faults each fresh 4 KB page in again: in a virtual machine a fifth of bench `step --model 89m --dtype bfloat16`'s
/// samples were page faults, and more once the trainer trims freed pages after every step (<see cref="Memory"/>).
/// jemalloc keeps freed pages for reuse and returns them gradually, and both it and glibc can ask for transparent
/// huge pages (where the kernel gives them on request: transparent_hugepage "madvise", Debian's default, or
/// "always"). The allocator and glibc's tunables are fixed when a process starts, so a process that wants them
/// replaces itself with itself started with them (execve: the same pid, arguments and open files, before anything
/// else has run): jemalloc preloaded (LD_PRELOAD, MALLOC_CONF=thp:always) where libjemalloc.so.2 is installed, else
/// glibc with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (glibc 2.35 and later; older ones ignore it). The new environment
/// says it is done, so it happens once. QWENTUNE_ALLOCATOR: auto (that choice), glibc (glibc with huge pages), system
/// (as the process started).
/// </summary>
public static unsafe partial class NativeAllocator
{
    public const string ChoiceVariable = "QWENTUNE_ALLOCATOR";
    private const string HugePagesTunable = "glibc.malloc.hugetlb";

    /// <summary>Where Debian and others install libjemalloc2.</summary>
    private static readonly string[] JemallocPaths =
    [
        "/usr/lib/x86_64-linux-gnu/libjemalloc.so.2", "/usr/lib/aarch64-linux-gnu/libjemalloc.so.2", "/usr/lib64/libjemalloc.so.2",
        "/usr/lib/libjemalloc.so.2", "/usr/local/lib/libjemalloc.so.2",
    ];

    /// <summary>For the startup line: "jemalloc", "jemalloc, huge pages", "huge pages" (glibc asked for them), or null.</summary>
    public static string? Description
    {
        get
        {
            if (!OperatingSystem.IsLinux())
                return null;
            if (JemallocLoaded())
            {
                var conf = Environment.GetEnvironmentVariable("MALLOC_CONF") ?? "";
                return conf.Contains("thp:always", StringComparison.Ordinal) && KernelGivesHugePagesOnRequest() ? "jemalloc, huge pages" : "jemalloc";
            }
            return Environment.GetEnvironmentVariable("GLIBC_TUNABLES")?.Contains(HugePagesTunable + "=1", StringComparison.Ordinal) == true
                && KernelGivesHugePagesOnRequest() ? "huge pages" : null;
        }
    }

    /// <summary>
    /// Replaces this process with the same command under the chosen allocator; returns when there is nothing to change,
    /// it is turned off, or exec fails (then nothing changes). Call it first thing in Main, before any thread of one's
    /// own or any native library.
    /// </summary>
    public static void RestartWithChosenAllocator()
    {
        var choice = Environment.GetEnvironmentVariable(ChoiceVariable) ?? "auto";
        if (!OperatingSystem.IsLinux() || choice == "system" || JemallocLoaded())
            return;
        var changes = new Dictionary<string, string>();
        var jemalloc = choice == "glibc" ? null : JemallocPaths.FirstOrDefault(File.Exists);
        if (jemalloc is not null)
        {
            var preload = Environment.GetEnvironmentVariable("LD_PRELOAD");
            changes["LD_PRELOAD"] = string.IsNullOrEmpty(preload) ? jemalloc : $"{jemalloc}:{preload}";
            if (Environment.GetEnvironmentVariable("MALLOC_CONF") is null && KernelGivesHugePagesOnRequest())
                changes["MALLOC_CONF"] = "thp:always,metadata_thp:auto";
        }
        else
        {
            var tunables = Environment.GetEnvironmentVariable("GLIBC_TUNABLES");
            if (tunables?.Contains(HugePagesTunable, StringComparison.Ordinal) == true || !KernelGivesHugePagesOnRequest() || !IsGlibc())
                return;
            changes["GLIBC_TUNABLES"] = $"{(string.IsNullOrEmpty(tunables) ? "" : tunables + ":")}{HugePagesTunable}=1";
        }
        Restart(changes);
    }

    private static void Restart(Dictionary<string, string> changes)
    {
        string[] arguments;
        try
        {
            arguments = File.ReadAllText("/proc/self/cmdline").Split('\0')[..^1];
        }
        catch (IOException)
        {
            return;
        }
        if (arguments.Length == 0)
            return;
        var environment = Environment.GetEnvironmentVariables().Cast<System.Collections.DictionaryEntry>()
            .Where(e => !changes.ContainsKey((string)e.Key))
            .Select(e => $"{e.Key}={e.Value}")
            .Concat(changes.Select(c => $"{c.Key}={c.Value}"))
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

    /// <summary>Whether jemalloc is mapped into this process (preloaded, by us or by the user).</summary>
    private static bool JemallocLoaded()
    {
        try
        {
            return File.ReadLines("/proc/self/maps").Any(line => line.Contains("libjemalloc", StringComparison.Ordinal));
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>transparent_hugepage/enabled is "always" or "madvise" (the bracketed choice), not "never".</summary>
    private static bool KernelGivesHugePagesOnRequest()
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
