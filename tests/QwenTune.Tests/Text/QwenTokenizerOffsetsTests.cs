using System.Text;

namespace QwenTune.Tests.Text;

/// <summary>EncodeWithOffsets: same ids as Encode, ranges that tile the normalised text and agree with token bytes.</summary>
public sealed class QwenTokenizerOffsetsTests
{
    public static TheoryData<string> Names => LoadedTokenizers.Names;

    private static IEnumerable<string> Texts() =>
        LoadedTokenizers.ParityCases.Select(c => c.Text)
            .Concat(LoadedTokenizers.RenderedChats.Select(c => c.Text))
            .Concat(LoadedTokenizers.FuzzCases.Select(c => c.Text));

    [Theory]
    [MemberData(nameof(Names))]
    public void Offsets_give_the_encode_ids_and_tile_the_text(string tokenizerName)
    {
        var tokenizer = LoadedTokenizers.Get(tokenizerName);
        foreach (var raw in Texts())
        {
            var text = tokenizer.Normalize(raw);
            var tokens = tokenizer.EncodeWithOffsets(text);
            Assert.Equal(tokenizer.Encode(text), tokens.Select(t => t.Id));
            var position = 0;
            foreach (var (_, start, end) in tokens)
            {
                Assert.Equal(position, start);
                Assert.True(end >= start);
                position = end;
            }
            Assert.Equal(text.Length, position);
        }
    }

    [Theory]
    [MemberData(nameof(Names))]
    public void Each_range_starts_at_the_first_character_boundary_at_or_after_the_tokens_first_byte(string tokenizerName)
    {
        var tokenizer = LoadedTokenizers.Get(tokenizerName);
        var checkedPartialTokens = 0;
        foreach (var raw in Texts())
        {
            var text = tokenizer.Normalize(raw);
            var tokens = tokenizer.EncodeWithOffsets(text);
            var byteStart = 0;
            for (var i = 0; i < tokens.Count; i++)
            {
                var (id, start, end) = tokens[i];
                var bytes = TokenBytes(tokenizer, id);
                // Prefix of the text up to the range start holds at least the bytes before the token, and one code
                // point fewer would not.
                Assert.True(Utf8Length(text[..start]) >= byteStart, $"token {i} of {text}");
                if (start > 0)
                {
                    var previous = char.IsLowSurrogate(text[start - 1]) ? 2 : 1;
                    Assert.True(Utf8Length(text[..(start - previous)]) < byteStart, $"token {i} of {text}");
                }
                var wholeCharacters = Utf8Length(text[..start]) == byteStart && Utf8Length(text[..end]) == byteStart + bytes.Length;
                if (wholeCharacters)
                    Assert.Equal(bytes, Encoding.UTF8.GetBytes(text[start..end]));
                else
                    checkedPartialTokens++;
                byteStart += bytes.Length;
            }
        }
        // The emoji and astral-plane parity strings split characters across tokens.
        Assert.True(checkedPartialTokens > 0);
    }

    [Fact]
    public void Text_that_is_not_normalised_is_refused()
    {
        var tokenizer = LoadedTokenizers.Get("qwen3");
        Assert.Throws<ArgumentException>(() => tokenizer.EncodeWithOffsets("e\u0301"));
    }

    private static int Utf8Length(string text) => Encoding.UTF8.GetByteCount(text);

    /// <summary>
    /// The bytes a token stands for, from the GPT-2 byte alphabet (independent of the tokenizer's decoder). Ids from
    /// 151643 on are Qwen's added tokens (fixtures README), written as plain text.
    /// </summary>
    private static byte[] TokenBytes(QwenTune.Text.QwenTokenizer tokenizer, int id)
    {
        var token = tokenizer.IdToToken(id)!;
        return id >= 151643 ? Encoding.UTF8.GetBytes(token) : token.Select(c => Gpt2ByteOf[c]).ToArray();
    }

    /// <summary>bytes_to_unicode from openai/gpt-2 encoder.py, inverted.</summary>
    private static readonly Dictionary<char, byte> Gpt2ByteOf = BuildGpt2ByteOf();

    private static Dictionary<char, byte> BuildGpt2ByteOf()
    {
        var printable = Enumerable.Range('!', '~' - '!' + 1)
            .Concat(Enumerable.Range('¡', '¬' - '¡' + 1))
            .Concat(Enumerable.Range('®', 'ÿ' - '®' + 1))
            .ToList();
        var map = printable.ToDictionary(b => (char)b, b => (byte)b);
        var n = 0;
        for (var b = 0; b < 256; b++)
        {
            if (!printable.Contains(b))
                map[(char)(256 + n++)] = (byte)b;
        }
        return map;
    }
}
