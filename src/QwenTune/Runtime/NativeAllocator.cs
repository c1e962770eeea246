using System.Runtime.InteropServices;

namespace QwenTune.Runtime;

/// <summary>
/// The C allocator under libtorch's CPU memory. A training step allocates and frees hundreds of megabytes (the 89M
/// model's bf16 vocabulary-head gradient alone is 155 MB), and glibc's malloc hands them back to the kernel, which
/// faults each fresh 4 KB page in again: in a virtual machine a fifth of bench `step --model 89m --dtype bfloat16`'s
/// samples were page faults, and more once the trainer trims freed pages after every step (<see cref="Memory"/>).
/// jemalloc keeps freed pages for reuse (here for the whole run, <see cref="KeepPages"/>), and both it and glibc can
/// ask for transparent huge pages (where the kernel gives them on request: transparent_hugepage "madvise", Debian's
/// default, or "always"). The allocator and glibc's tunables are fixed when a process starts, so a process that wants
/// them replaces itself with itself started with them (execve: the same pid, arguments and open files, before
/// anything else has run): jemalloc preloaded (LD_PRELOAD, MALLOC_CONF=<see cref="KeepPages"/> with thp:always) where
/// libjemalloc.so.2 is installed, else glibc with GLIBC_TUNABLES=glibc.malloc.hugetlb=1 (glibc 2.35 and later; older
/// ones ignore it). The new environment says it is done, so it happens once. QWENTUNE_ALLOCATOR: auto (that choice),
/// glibc (glibc with huge pages), system (as the process started).
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
        var changes = PlannedChanges(choice, Environment.GetEnvironmentVariable, JemallocPaths.FirstOrDefault(File.Exists), KernelGivesHugePagesOnRequest(), IsGlibc());
        if (changes.Count > 0)
            Restart(changes);
    }

    /// <summary>
    /// jemalloc's settings when the user set none: freed pages are not handed back by time (dirty_decay_ms:-1; the
    /// trainer hands them back when they outgrow the working set, <see cref="Memory.BeforeStep"/>), large allocations
    /// share the arenas of the rest (oversize_threshold:0; by default those above 8 MB go to an arena of their own that
    /// hands its pages back at once), and a request may be cut from a free extent of any size
    /// (lg_extent_max_active_fit:16; by default at most 64 times its size, else fresh pages are mapped beside it), so a
    /// step's tensors reuse the last step's pages, as PyTorch's CUDA caching allocator reuses device memory. Measured
    /// on a 2-core Zen 5, bench `step --child ... bfloat16`, interleaved against jemalloc's defaults (which purge over
    /// 10 s): 89M full 1.64/1.67 s -> 1.26/1.32 s; Qwen2.5-0.5B shape full 5.34 -> 4.49 s a step, peak RSS 9.24 ->
    /// 10.70 GB, and with the extent fit 3.70 s, 9.76 GB (10.28 GB and a hand-back without it, the same minutes);
    /// 0.5B LoRA with checkpointing grew 450 MB a step without the fit, flat with it (4.34-4.59 -> 3.59 s). A 30 s
    /// decay kept 0.5B full at 5.93 s. thp:always asks for transparent huge pages (0.5B: 7.73 s a step without them).
    /// </summary>
    internal const string KeepPages = NoTimedPurge + ",oversize_threshold:0,lg_extent_max_active_fit:16";

    /// <summary>The setting of <see cref="KeepPages"/> that makes kept pages the trainer's to hand back (<see cref="KeepsPages"/>).</summary>
    private const string NoTimedPurge = "dirty_decay_ms:-1";

    /// <summary>
    /// The environment a restart adds or replaces for <paramref name="choice"/> (auto or glibc), given the environment
    /// (<paramref name="variable"/>), jemalloc's path if installed, whether the kernel gives huge pages on request,
    /// and whether the C library is glibc; empty when nothing would change.
    /// </summary>
    internal static Dictionary<string, string> PlannedChanges(string choice, Func<string, string?> variable, string? jemalloc, bool hugePages, bool glibc)
    {
        var changes = new Dictionary<string, string>();
        if (choice != "glibc" && jemalloc is not null)
        {
            var preload = variable("LD_PRELOAD");
            changes["LD_PRELOAD"] = string.IsNullOrEmpty(preload) ? jemalloc : $"{jemalloc}:{preload}";
            if (variable("MALLOC_CONF") is null)
                changes["MALLOC_CONF"] = hugePages ? $"thp:always,metadata_thp:auto,{KeepPages}" : KeepPages;
            return changes;
        }
        var tunables = variable("GLIBC_TUNABLES");
        if (tunables?.Contains(HugePagesTunable, StringComparison.Ordinal) == true || !hugePages || !glibc)
            return changes;
        changes["GLIBC_TUNABLES"] = $"{(string.IsNullOrEmpty(tunables) ? "" : tunables + ":")}{HugePagesTunable}=1";
        return changes;
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

    /// <summary>Whether this process runs under jemalloc keeping its freed pages (<see cref="KeepPages"/>, ours or the user's own).</summary>
    public static bool KeepsPages => s_keepsPages ??= OperatingSystem.IsLinux() && JemallocLoaded()
        && (Environment.GetEnvironmentVariable("MALLOC_CONF") ?? "").Contains(NoTimedPurge, StringComparison.Ordinal);

    private static bool? s_keepsPages;

    /// <summary>
    /// Hands every page jemalloc keeps back to the system (mallctl "arena.4096.purge": all arenas); false where jemalloc
    /// is not this process's allocator or the call failed.
    /// </summary>
    public static bool HandBackKeptPages()
    {
        if (!KeepsPages || !NativeLibrary.TryLoad("libjemalloc.so.2", out var library) || !NativeLibrary.TryGetExport(library, "mallctl", out var export))
            return false;
        var mallctl = (delegate* unmanaged<byte*, void*, nuint*, void*, nuint, int>)export;
        fixed (byte* name = "arena.4096.purge\0"u8)
            return mallctl(name, null, null, null, 0) == 0;
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
