using System.Text;

namespace QwenTune.Text;

/// <summary>
/// Byte-level BPE of one pre-tokenizer chunk in O(n log n): Hugging Face tokenizers' <c>Word::merge_all</c>
/// (<c>models/bpe/word.rs</c>), a min-heap of adjacent pairs keyed by (merge rank, position) over a doubly linked list
/// of symbols, stale heap entries dropped when popped. It gives what the ranked-merge definition gives (repeatedly
/// merge the lowest-ranked adjacent pair, leftmost first), which is also what Microsoft.ML.Tokenizers'
/// <c>BpeTokenizer</c> computes; that library compacts its symbol list with one O(n) removal per merged symbol, so a
/// chunk of n bytes cost O(n²) there (a 1M-character word took 96 s).
/// </summary>
internal sealed class BytePairMerger
{
    /// <summary>Vocabulary id of each byte's one-character byte-level token, or -1 when the vocabulary lacks it.</summary>
    private readonly int[] _byteIds = new int[256];

    /// <summary>(left id, right id) packed into a long, to (rank, merged id).</summary>
    private readonly Dictionary<long, (int Rank, int MergedId)> _merges;

    /// <summary>
    /// Builds the tables from a vocabulary and merges ("left right", in rank order) that the library's BpeTokenizer
    /// already accepted, so every merge's parts and result are in the vocabulary and no pair repeats.
    /// </summary>
    public BytePairMerger(IReadOnlyDictionary<string, int> vocab, IReadOnlyList<string> merges)
    {
        for (var b = 0; b < 256; b++)
            _byteIds[b] = vocab.TryGetValue(ByteLevelAlphabet.CharOfByte((byte)b).ToString(), out var id) ? id : -1;
        _merges = new Dictionary<long, (int, int)>(merges.Count, PairComparer.Instance);
        for (var rank = 0; rank < merges.Count; rank++)
        {
            var merge = merges[rank];
            var space = merge.IndexOf(' ');
            var left = merge[..space];
            var right = merge[(space + 1)..];
            _merges[Pack(vocab[left], vocab[right])] = (rank, vocab[left + right]);
        }
    }

    /// <summary>
    /// Token ids of <paramref name="chunk"/> read as UTF-8. Bytes whose token is missing from the vocabulary are
    /// dropped, as the library does without an unknown token.
    /// </summary>
    public int[] Encode(ReadOnlySpan<char> chunk)
    {
        var ids = new int[Encoding.UTF8.GetMaxByteCount(chunk.Length)];
        var count = 0;
        Span<byte> buffer = stackalloc byte[4];
        for (var i = 0; i < chunk.Length; i++)
        {
            var length = EncodeUtf8(chunk, ref i, buffer);
            foreach (var b in buffer[..length])
            {
                if (_byteIds[b] >= 0)
                    ids[count++] = _byteIds[b];
            }
        }
        return MergeAll(ids.AsSpan(0, count));
    }

    /// <summary>
    /// UTF-8 of the code point at <paramref name="index"/> (moved past a surrogate pair). An unpaired surrogate is
    /// written as its own three-byte sequence (ED A0 80 for U+D800), as the library's byte-level conversion does.
    /// </summary>
    private static int EncodeUtf8(ReadOnlySpan<char> text, ref int index, Span<byte> destination)
    {
        int codePoint = text[index];
        if (char.IsHighSurrogate(text[index]) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1]))
            codePoint = char.ConvertToUtf32(text[index], text[++index]);
        switch (codePoint)
        {
            case < 0x80:
                destination[0] = (byte)codePoint;
                return 1;
            case < 0x800:
                destination[0] = (byte)(0xC0 | (codePoint >> 6));
                destination[1] = (byte)(0x80 | (codePoint & 0x3F));
                return 2;
            case < 0x10000:
                destination[0] = (byte)(0xE0 | (codePoint >> 12));
                destination[1] = (byte)(0x80 | ((codePoint >> 6) & 0x3F));
                destination[2] = (byte)(0x80 | (codePoint & 0x3F));
                return 3;
            default:
                destination[0] = (byte)(0xF0 | (codePoint >> 18));
                destination[1] = (byte)(0x80 | ((codePoint >> 12) & 0x3F));
                destination[2] = (byte)(0x80 | ((codePoint >> 6) & 0x3F));
                destination[3] = (byte)(0x80 | (codePoint & 0x3F));
                return 4;
        }
    }

    private int[] MergeAll(Span<int> ids)
    {
        var n = ids.Length;
        var previous = new int[n];
        var next = new int[n];
        var removed = new bool[n];
        // Priority (rank << 32 | position): the lowest rank first, then the leftmost, as word.rs's Merge ordering.
        var initial = new List<((int Position, int MergedId), long)>(n);
        for (var i = 0; i < n; i++)
        {
            previous[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
            if (i + 1 < n && _merges.TryGetValue(Pack(ids[i], ids[i + 1]), out var pair))
                initial.Add(((i, pair.MergedId), Priority(pair.Rank, i)));
        }
        // Into an empty queue EnqueueRange builds the heap in O(n).
        var queue = new PriorityQueue<(int Position, int MergedId), long>(initial.Count);
        queue.EnqueueRange(initial);

        while (queue.TryDequeue(out var top, out _))
        {
            var position = top.Position;
            if (removed[position] || next[position] < 0)
                continue;
            var right = next[position];
            // A stale entry: one of the two symbols has changed since the pair was queued.
            if (!_merges.TryGetValue(Pack(ids[position], ids[right]), out var merge) || merge.MergedId != top.MergedId)
                continue;

            ids[position] = top.MergedId;
            removed[right] = true;
            next[position] = next[right];
            if (next[right] >= 0)
                previous[next[right]] = position;
            if (previous[position] >= 0)
                Enqueue(queue, previous[position], ids[previous[position]], ids[position]);
            if (next[position] >= 0)
                Enqueue(queue, position, ids[position], ids[next[position]]);
        }

        var result = new List<int>(n);
        for (var i = 0; i < n; i++)
        {
            if (!removed[i])
                result.Add(ids[i]);
        }
        return [.. result];
    }

    private void Enqueue(PriorityQueue<(int, int), long> queue, int position, int leftId, int rightId)
    {
        if (_merges.TryGetValue(Pack(leftId, rightId), out var merge))
            queue.Enqueue((position, merge.MergedId), Priority(merge.Rank, position));
    }

    private static long Priority(int rank, int position) => ((long)rank << 32) | (uint)position;

    private static long Pack(int leftId, int rightId) => ((long)leftId << 32) | (uint)rightId;

    /// <summary>
    /// long's own hash is its halves XORed, so pairs of ids below 2^18 (every Qwen id) with equal left ^ right all
    /// collide, and lookups walked long chains; a multiplicative mix spreads them.
    /// </summary>
    private sealed class PairComparer : IEqualityComparer<long>
    {
        public static PairComparer Instance { get; } = new();

        public bool Equals(long x, long y) => x == y;

        public int GetHashCode(long pair) => (int)(((ulong)pair * 0x9E3779B97F4A7C15UL) >> 32);
    }
}
