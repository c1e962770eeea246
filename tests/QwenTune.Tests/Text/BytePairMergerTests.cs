using System.Text;
using QwenTune.Text;

namespace QwenTune.Tests.Text;

/// <summary>
/// Our O(n log n) BPE against Microsoft.ML.Tokenizers' BpeTokenizer (the path every chunk took before), on every
/// pre-tokenizer chunk of the fixtures and on long random words where the library's quadratic loop still finishes.
/// </summary>
public sealed class BytePairMergerTests
{
    [Theory]
    [MemberData(nameof(LoadedTokenizers.Names), MemberType = typeof(LoadedTokenizers))]
    public void Gives_the_library_ids_for_every_chunk_of_the_fixtures(string tokenizerName)
    {
        var tokenizer = LoadedTokenizers.Get(tokenizerName);
        var texts = LoadedTokenizers.ParityCases.Select(c => c.Text)
            .Concat(LoadedTokenizers.FuzzCases.Select(c => c.Text))
            .Concat(LoadedTokenizers.RenderedChats.Select(c => c.Text));
        var chunks = 0;
        foreach (var text in texts)
        {
            var normalized = tokenizer.Normalize(text);
            for (var start = 0; start < normalized.Length; chunks++)
            {
                var end = QwenPreTokenizer.ChunkEnd(normalized, start);
                AssertSameAsLibrary(tokenizer, normalized.AsSpan(start, end - start));
                start = end;
            }
        }
        Assert.True(chunks > 1000, $"only {chunks} chunks");
    }

    [Theory]
    [InlineData("qwen3", "ab", 5_000)]
    [InlineData("qwen3", "abcdefghijklmnopqrstuvwxyz", 20_000)]
    [InlineData("qwen2.5", "aeiou", 12_000)]
    [InlineData("qwen3", "中文字符测试的", 6_000)]
    [InlineData("qwen3", "éàüßøñ", 8_000)]
    [InlineData("qwen2.5", "!@#$%^&*()_+-=[]{};:,./<>?|~", 10_000)]
    [InlineData("qwen3", "a𝐀b𠮷c😀", 7_000)]
    public void Gives_the_library_ids_for_long_random_words(string tokenizerName, string alphabet, int length)
    {
        var tokenizer = LoadedTokenizers.Get(tokenizerName);
        var random = new Random(length);
        var elements = StringInfoElements(alphabet);
        var word = new StringBuilder(length + 2);
        while (word.Length < length)
            word.Append(elements[random.Next(elements.Length)]);
        AssertSameAsLibrary(tokenizer, word.ToString());
    }

    [Fact]
    public void Gives_the_library_ids_for_repeated_pairs_and_lone_surrogates()
    {
        var tokenizer = LoadedTokenizers.Get("qwen3");
        AssertSameAsLibrary(tokenizer, string.Concat(Enumerable.Repeat("ab", 3_000)));
        AssertSameAsLibrary(tokenizer, new string('a', 4_001));
        AssertSameAsLibrary(tokenizer, "x\ud800y\udc00" + new string('z', 300) + "\ud83d");
    }

    [Fact]
    public void Encode_of_a_text_with_a_long_word_gives_the_library_ids()
    {
        var tokenizer = LoadedTokenizers.Get("qwen3");
        var text = "Hello " + string.Concat(Enumerable.Repeat("xyz", 2_000)) + " world, and\n" + new string('-', 900) + "!";
        var expected = tokenizer.Bpe.EncodeToIds(tokenizer.Normalize(text), considerPreTokenization: true, considerNormalization: false);
        Assert.Equal(expected, tokenizer.Encode(text));
        // Offsets still tile the text and name the same ids.
        var ranges = tokenizer.EncodeWithOffsets(tokenizer.Normalize(text));
        Assert.Equal(expected, ranges.Select(r => r.Id));
        Assert.Equal(text.Length, ranges[^1].End);
    }

    private static void AssertSameAsLibrary(QwenTokenizer tokenizer, ReadOnlySpan<char> chunk)
    {
        var expected = tokenizer.Bpe.EncodeToIds(chunk, considerPreTokenization: false, considerNormalization: false);
        var actual = tokenizer.EncodeChunkWithOwnMerger(chunk);
        Assert.True(expected.SequenceEqual(actual),
            $"chunk of {chunk.Length} chars starting \"{chunk[..Math.Min(40, chunk.Length)].ToString()}\": "
            + $"library [{string.Join(", ", expected.Take(20))}...] ours [{string.Join(", ", actual.Take(20))}...]");
    }

    private static string[] StringInfoElements(string text)
    {
        var elements = new List<string>();
        var enumerator = System.Globalization.StringInfo.GetTextElementEnumerator(text);
        while (enumerator.MoveNext())
            elements.Add(enumerator.GetTextElement());
        return [.. elements];
    }
}
