using System.Runtime.InteropServices;

namespace QwenTune.Runtime;

/// <summary>
/// Caps oneDNN's primitive cache and ideep's computation cache, which hold a compiled kernel for every product shape
/// libtorch's bf16 GEMM has seen (where the CPU has AVX512-BF16 or AMX), before libtorch first uses them. Training's
/// shapes change with every batch's token count, so at their default of 1,024 entries the caches grew bench rss-soak's
/// resident memory by 46% over 200 steps (a 2-core Zen 5, before and after the threaded bf16 head alike) and 59% over
/// 500; capped at 16, 7.8% over 500 (at 4 the same, 7.6%: the rest grows elsewhere), and no slower. Both read their
/// variables once, at first use. A value the user set is kept.
/// </summary>
internal static partial class NativeCaches
{
    private const string Capacity = "16";

    public static void Cap()
    {
        if (!OperatingSystem.IsLinux())
            return;
        foreach (var name in new[] { "ONEDNN_PRIMITIVE_CACHE_CAPACITY", "LRU_CACHE_CAPACITY" })
        {
            // .NET keeps its own copy of the environment: libtorch reads the C library's.
            if (Environment.GetEnvironmentVariable(name) is null)
            {
                try
                {
                    SetEnv(name, Capacity, overwrite: 0);
                }
                catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
                {
                    return;
                }
            }
        }
    }

    [LibraryImport("libc", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);
}
