using System.Runtime.InteropServices;
using SharpFuzz.Common;

namespace QwenTune.Fuzz;

/// <summary>
/// Edge coverage read in-process from SharpFuzz's trace map (AFL's layout: 64 KiB of hit counters indexed by
/// previous-branch XOR current-branch), which assemblies rewritten by the <c>sharpfuzz</c> tool update. Counts are
/// bucketed as AFL does (1, 2, 3, 4-7, 8-15, 16-31, 32-127, 128+) so a loop running once more is not "new".
/// Without instrumented assemblies the map stays empty and the fuzzer runs coverage-less.
/// </summary>
public sealed unsafe class CoverageMap : IDisposable
{
    private const int MapSize = 1 << 16;
    private readonly byte* _trace;
    private readonly byte[] _seen = new byte[MapSize];

    public CoverageMap()
    {
        _trace = (byte*)NativeMemory.AllocZeroed(MapSize);
        Trace.SharedMem = _trace;
    }

    /// <summary>Distinct edges seen so far.</summary>
    public int Edges { get; private set; }

    public void Reset()
    {
        new Span<byte>(_trace, MapSize).Clear();
        Trace.PrevLocation = 0;
    }

    /// <summary>Folds the last execution's trace into what was seen; true when it reached an edge or count bucket seen by no earlier input.</summary>
    public bool MergeNew()
    {
        var found = false;
        var trace = new ReadOnlySpan<byte>(_trace, MapSize);
        var index = trace.IndexOfAnyExcept((byte)0);
        while (index >= 0)
        {
            var bucket = Bucket(trace[index]);
            if ((_seen[index] & bucket) == 0)
            {
                if (_seen[index] == 0)
                    Edges++;
                _seen[index] |= bucket;
                found = true;
            }
            var next = trace[(index + 1)..].IndexOfAnyExcept((byte)0);
            index = next < 0 ? -1 : index + 1 + next;
        }
        return found;
    }

    private static byte Bucket(byte count) => count switch
    {
        1 => 1,
        2 => 2,
        3 => 4,
        <= 7 => 8,
        <= 15 => 16,
        <= 31 => 32,
        <= 127 => 64,
        _ => 128,
    };

    public void Dispose()
    {
        Trace.SharedMem = null;
        NativeMemory.Free(_trace);
    }
}
