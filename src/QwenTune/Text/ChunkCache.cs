using System.Collections.Concurrent;

namespace QwenTune.Text;

/// <summary>
/// Thread-safe cache from a pre-tokenizer chunk to its BPE ids, looked up by span so a hit allocates nothing.
/// Bounded: once full it stops adding, keeping the chunks seen first, which in running text are mostly the frequent
/// ones (the same policy as the library's cache, with room for far more and longer chunks).
/// </summary>
internal sealed class ChunkCache
{
    /// <summary>About 20 MB when full with word-sized chunks.</summary>
    private const int Capacity = 150_000;

    /// <summary>Longer chunks (long numbers are split per digit, so these are long words or symbol runs) rarely repeat.</summary>
    private const int MaxChunkLength = 48;

    private readonly ConcurrentDictionary<string, int[]> _entries = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _bySpan;

    /// <summary>Entries added; ConcurrentDictionary.Count takes every lock, too slow to ask per miss.</summary>
    private int _count;

    public ChunkCache() => _bySpan = _entries.GetAlternateLookup<ReadOnlySpan<char>>();

    public bool TryGet(ReadOnlySpan<char> chunk, out int[] ids) => _bySpan.TryGetValue(chunk, out ids!);

    public void TryAdd(ReadOnlySpan<char> chunk, int[] ids)
    {
        if (chunk.Length <= MaxChunkLength && Volatile.Read(ref _count) < Capacity && _bySpan.TryAdd(chunk, ids))
            Interlocked.Increment(ref _count);
    }
}
