using System.Text;
using Microsoft.ML.Tokenizers;

namespace QwenTune.Text;

/// <summary>
/// A Qwen2 / Qwen2.5 / Qwen3 tokenizer read from a model folder's tokenizer.json and tokenizer_config.json, giving the
/// ids Hugging Face gives. Byte-level BPE is Microsoft.ML.Tokenizers' <see cref="BpeTokenizer"/>; this class adds what
/// that library lacks for Qwen: the code-point-correct pre-tokenizer, NFC, added tokens matched inside text, and
/// decoding that skips only tokens marked special. Thread-safe.
/// </summary>
public sealed class QwenTokenizer
{
    private readonly BpeTokenizer _bpe;
    private readonly AddedTokenSplitter _addedTokenSplitter;
    /// <summary>Token to id for <see cref="TokenToId"/>, built on first use (the library keeps its own for encoding).</summary>
    private readonly Lazy<Dictionary<string, int>> _vocab;
    private readonly Dictionary<string, int> _addedTokenIds;
    private readonly string?[] _idToToken;
    private readonly bool[] _isSpecial;

    /// <summary>UTF-8 length of each BPE vocabulary entry (one byte per character of a byte-level token), for offsets.</summary>
    private readonly int[] _bpeTokenBytes;
    private readonly bool _normalizeNfc;
    private readonly ChunkCache _chunkCache = new();

    /// <summary>Our own O(n log n) BPE, for chunks longer than <see cref="LongChunkLength"/>; built on first use.</summary>
    private readonly Lazy<BytePairMerger> _longChunkMerger;

    /// <summary>
    /// Chunks longer than this (a long word, a run of symbols) go through <see cref="BytePairMerger"/>: the library's
    /// merge loop is quadratic in the chunk's length. Shorter ones keep the library's tuned path.
    /// </summary>
    internal const int LongChunkLength = 256;

    private QwenTokenizer(TokenizerJson json, TokenizerConfig config, string directory)
    {
        var vocabEntries = json.Vocab;
        _vocab = new Lazy<Dictionary<string, int>>(() => new Dictionary<string, int>(vocabEntries, StringComparer.Ordinal));
        _normalizeNfc = json.NormalizeNfc;
        _addedTokenIds = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var token in json.AddedTokens)
            _addedTokenIds[token.Content] = token.Id;
        _addedTokenSplitter = new AddedTokenSplitter(json.AddedTokens.Select(t => (t.Content, t.Id)));

        // In long: an id of int.MaxValue would overflow the + 1 (found by fuzzing).
        var largestId = Math.Max((long)vocabEntries.Max(e => e.Value), json.AddedTokens.Count == 0 ? -1 : json.AddedTokens.Max(t => t.Id));
        if (largestId + 1 > 2L * (vocabEntries.Count + json.AddedTokens.Count) + 1024)
            throw new QwenTuneException($"{Path.Combine(directory, TokenizerJson.FileName)}: token ids go up to {largestId} for "
                                        + $"{vocabEntries.Count + json.AddedTokens.Count} tokens; ids must be numbered from 0 without large gaps.");
        VocabSize = (int)(largestId + 1);
        _idToToken = new string?[VocabSize];
        _bpeTokenBytes = new int[VocabSize];
        foreach (var (token, id) in vocabEntries)
        {
            _idToToken[id] = token;
            _bpeTokenBytes[id] = token.Length;
        }
        _isSpecial = new bool[VocabSize];
        foreach (var token in json.AddedTokens)
        {
            _idToToken[token.Id] = token.Content;
            _isSpecial[token.Id] = token.Special;
        }
        SpecialTokens = json.AddedTokens.Where(t => t.Special).OrderBy(t => t.Id).Select(t => t.Content).ToArray();

        _bpe = CreateBpe(json, directory);
        var merges = json.Merges;
        _longChunkMerger = new Lazy<BytePairMerger>(() => new BytePairMerger(_vocab.Value, merges));

        var configPath = Path.Combine(directory, TokenizerConfig.FileName);
        EosToken = config.EosToken
                   ?? throw new QwenTuneException($"{configPath}: \"eos_token\" is missing; Qwen models use \"<|im_end|>\" (chat) or \"<|endoftext|>\" (base).");
        EosTokenId = TokenToId(EosToken)
                     ?? throw new QwenTuneException($"{configPath}: \"eos_token\" \"{EosToken}\" is not a token of tokenizer.json.");
        PadToken = config.PadToken;
        PadTokenId = PadToken is null
            ? null
            : TokenToId(PadToken) ?? throw new QwenTuneException($"{configPath}: \"pad_token\" \"{PadToken}\" is not a token of tokenizer.json.");
        BosToken = config.BosToken;
        ModelMaxLength = config.ModelMaxLength;
        ChatTemplate = config.ChatTemplate;
    }

    /// <summary>The library tokenizer underneath (byte-level BPE with the Qwen pre-tokenizer), for benchmarks.</summary>
    internal BpeTokenizer Bpe => _bpe;

    /// <summary>
    /// Tokenizer files a saved model folder (checkpoint, final model, adapter, merged model) carries, by name: every file
    /// <see cref="FromDirectory"/> and the chat template read, so a reload sees the same tokenizer and template.
    /// </summary>
    public static IReadOnlyList<string> FilesToCopy { get; } =
    [
        TokenizerJson.FileName, TokenizerConfig.FileName, "vocab.json", "merges.txt", "special_tokens_map.json",
        "added_tokens.json", TokenizerConfig.ChatTemplateJinjaFile, TokenizerConfig.ChatTemplateJsonFile,
    ];

    /// <summary>Largest id + 1 over the vocabulary and the added tokens (Hugging Face's <c>len(tokenizer)</c>).</summary>
    public int VocabSize { get; }

    /// <summary>Contents of the added tokens marked special, by id (the ones <see cref="Decode"/> can skip).</summary>
    public IReadOnlyList<string> SpecialTokens { get; }

    public string EosToken { get; }

    public int EosTokenId { get; }

    public string? PadToken { get; }

    public int? PadTokenId { get; }

    public string? BosToken { get; }

    public int? ModelMaxLength { get; }

    /// <summary>The Jinja chat template, or null if the model has none.</summary>
    public string? ChatTemplate { get; }

    /// <summary>
    /// Reads <paramref name="directory"/>/tokenizer.json and tokenizer_config.json. Throws
    /// <see cref="QwenTuneException"/> naming the file and key when either is missing, malformed or unsupported.
    /// </summary>
    public static QwenTokenizer FromDirectory(string directory)
    {
        ArgumentNullException.ThrowIfNull(directory);
        if (!Directory.Exists(directory))
            throw new QwenTuneException($"Model folder {directory} does not exist.");
        var json = TokenizerJson.Read(Path.Combine(directory, TokenizerJson.FileName));
        var config = TokenizerConfig.Read(directory);
        return new QwenTokenizer(json, config, directory);
    }

    /// <summary>The text the tokenizer works on (NFC when tokenizer.json asks for it); offsets refer to it.</summary>
    public string Normalize(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return _normalizeNfc ? NfcNormalizer.Instance.Normalize(text) : text;
    }

    /// <summary>
    /// Token ids of <paramref name="text"/>, no special tokens added. Added tokens written in the text
    /// (<c>&lt;|im_start|&gt;</c>, <c>&lt;think&gt;</c>) become their ids, as Hugging Face does with
    /// <c>split_special_tokens=False</c>; they are found before normalisation, the rest is normalised per piece.
    /// </summary>
    public int[] Encode(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var ids = new List<int>(text.Length / 3 + 4);
        foreach (var segment in _addedTokenSplitter.Split(text))
        {
            if (segment.IsAddedToken)
            {
                ids.Add(segment.Id);
                continue;
            }
            var piece = segment.Length == text.Length ? text : text.Substring(segment.Start, segment.Length);
            EncodeOrdinary(Normalize(piece), ids, ranges: null, rangeOffset: 0);
        }
        return ids.ToArray();
    }

    /// <summary>
    /// Token ids of already normalised text (see <see cref="Normalize"/>) with the UTF-16 range each token covers,
    /// end exclusive. The ranges are contiguous and cover the text. A character belongs to the token holding its first
    /// UTF-8 byte, so a token that holds only the later bytes of a character (BPE can split a character's bytes)
    /// gets an empty range.
    /// </summary>
    public IReadOnlyList<(int Id, int Start, int End)> EncodeWithOffsets(string normalizedText)
    {
        ArgumentNullException.ThrowIfNull(normalizedText);
        if (!ReferenceEquals(Normalize(normalizedText), normalizedText) && Normalize(normalizedText) != normalizedText)
            throw new ArgumentException("The text is not normalised; pass the result of Normalize(text).", nameof(normalizedText));

        var ranges = new List<(int Id, int Start, int End)>(normalizedText.Length / 3 + 4);
        foreach (var segment in _addedTokenSplitter.Split(normalizedText))
        {
            if (segment.IsAddedToken)
                ranges.Add((segment.Id, segment.Start, segment.Start + segment.Length));
            else
                EncodeOrdinary(normalizedText.AsSpan(segment.Start, segment.Length), ids: null, ranges, segment.Start);
        }
        return ranges;
    }

    /// <summary>
    /// Text of <paramref name="ids"/>: token bytes joined and read as UTF-8, invalid sequences becoming U+FFFD (Hugging
    /// Face's <c>errors="replace"</c>). Ids with no token are skipped, as Hugging Face does (a model's embedding
    /// usually has more rows than the tokenizer has tokens). <paramref name="skipSpecialTokens"/> drops added tokens
    /// marked special (<c>&lt;|im_end|&gt;</c>) but keeps the others (<c>&lt;think&gt;</c>).
    /// </summary>
    public string Decode(IEnumerable<int> ids, bool skipSpecialTokens = false)
    {
        ArgumentNullException.ThrowIfNull(ids);
        var bytes = new List<byte>();
        foreach (var id in ids)
            AppendTokenBytes(id, bytes, skipSpecialTokens);
        return Encoding.UTF8.GetString(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(bytes));
    }

    /// <summary>
    /// The bytes of one token, as <see cref="Decode"/> joins them (none for an id without a token, or for a special
    /// token when <paramref name="skipSpecialTokens"/>). A byte-level token may hold part of a UTF-8 character, so
    /// streaming text decodes these bytes with a stateful decoder rather than each token on its own.
    /// </summary>
    public byte[] TokenBytes(int id, bool skipSpecialTokens = false)
    {
        var bytes = new List<byte>();
        AppendTokenBytes(id, bytes, skipSpecialTokens);
        return [.. bytes];
    }

    private void AppendTokenBytes(int id, List<byte> bytes, bool skipSpecialTokens)
    {
        if (id < 0)
            throw new ArgumentOutOfRangeException(nameof(id), id, "Token ids are non-negative (is -100, the ignored label, being decoded?).");
        if (id >= _idToToken.Length || _idToToken[id] is not { } token || (skipSpecialTokens && _isSpecial[id]))
            return;
        ByteLevelAlphabet.AppendBytes(token, bytes);
    }

    /// <summary>The id of a vocabulary entry (byte-level form, e.g. "Ġthe") or an added token, or null.</summary>
    public int? TokenToId(string token)
    {
        ArgumentNullException.ThrowIfNull(token);
        return _addedTokenIds.TryGetValue(token, out var added) ? added
            : _vocab.Value.TryGetValue(token, out var id) ? id
            : null;
    }

    /// <summary>The vocabulary entry (byte-level form) or added token of an id, or null.</summary>
    public string? IdToToken(int id) => id >= 0 && id < _idToToken.Length ? _idToToken[id] : null;

    private static BpeTokenizer CreateBpe(TokenizerJson json, string directory)
    {
        var options = new BpeOptions(json.Vocab)
        {
            Merges = json.Merges,
            PreTokenizer = QwenPreTokenizer.Instance,
            // Normalisation runs per piece between added tokens (see Encode), so calls pass considerNormalization: false.
            Normalizer = json.NormalizeNfc ? NfcNormalizer.Instance : null,
            ByteLevel = true,
        };
        try
        {
            return BpeTokenizer.Create(options);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException)
        {
            throw new QwenTuneException($"{Path.Combine(directory, TokenizerJson.FileName)}: \"model\" is inconsistent: {e.Message}", e);
        }
    }

    /// <summary>
    /// BPE over normalised text without added tokens, one pre-tokenizer chunk at a time. Chunk results are cached,
    /// since a few thousand words make up most of any text; the library's own cache holds only 10,000 words of up
    /// to 15 bytes, so CJK runs and code identifiers went through BPE merges again on every occurrence.
    /// </summary>
    private void EncodeOrdinary(ReadOnlySpan<char> text, List<int>? ids, List<(int Id, int Start, int End)>? ranges, int rangeOffset)
    {
        for (var start = 0; start < text.Length;)
        {
            var end = QwenPreTokenizer.ChunkEnd(text, start);
            var chunk = text[start..end];
            if (!_chunkCache.TryGet(chunk, out var chunkIds))
            {
                chunkIds = EncodeChunk(chunk);
                _chunkCache.TryAdd(chunk, chunkIds);
            }
            ids?.AddRange(chunkIds);
            if (ranges is not null)
                AppendCharRanges(chunk, rangeOffset + start, chunkIds, ranges);
            start = end;
        }
    }

    /// <summary>BPE of one pre-tokenizer chunk, not cached.</summary>
    internal int[] EncodeChunk(ReadOnlySpan<char> chunk) =>
        chunk.Length > LongChunkLength
            ? _longChunkMerger.Value.Encode(chunk)
            : [.. _bpe.EncodeToIds(chunk, considerPreTokenization: false, considerNormalization: false)];

    /// <summary>Our BPE of a chunk of any length, for tests against the library's.</summary>
    internal int[] EncodeChunkWithOwnMerger(ReadOnlySpan<char> chunk) => _longChunkMerger.Value.Encode(chunk);

    /// <summary>
    /// UTF-16 ranges of a chunk's tokens: each token starts at the first character boundary at or after its first
    /// byte and ends where the next one starts. A chunk always starts and ends on a character boundary.
    /// </summary>
    private void AppendCharRanges(ReadOnlySpan<char> chunk, int chunkStart, int[] chunkIds, List<(int Id, int Start, int End)> ranges)
    {
        var charIndex = 0;
        var charByteOffset = 0;
        var tokenByteOffset = 0;
        var starts = chunkIds.Length <= 64 ? stackalloc int[chunkIds.Length] : new int[chunkIds.Length];
        for (var i = 0; i < chunkIds.Length; i++)
        {
            while (charIndex < chunk.Length && charByteOffset < tokenByteOffset)
                AdvanceOneCodePoint(chunk, ref charIndex, ref charByteOffset);
            starts[i] = charIndex;
            tokenByteOffset += _bpeTokenBytes[chunkIds[i]];
        }
        for (var i = 0; i < chunkIds.Length; i++)
        {
            var end = i + 1 < chunkIds.Length ? starts[i + 1] : chunk.Length;
            ranges.Add((chunkIds[i], chunkStart + starts[i], chunkStart + end));
        }
    }

    private static void AdvanceOneCodePoint(ReadOnlySpan<char> text, ref int charIndex, ref int byteOffset)
    {
        var c = text[charIndex];
        if (char.IsHighSurrogate(c) && charIndex + 1 < text.Length && char.IsLowSurrogate(text[charIndex + 1]))
        {
            charIndex += 2;
            byteOffset += 4;
            return;
        }
        charIndex++;
        // An unpaired surrogate is written as U+FFFD, three bytes.
        byteOffset += c < 0x80 ? 1 : c < 0x800 ? 2 : 3;
    }
}
