using System.Text;

namespace QwenTune.Tests.Text;

/// <summary>Ids against Hugging Face's, from the fixtures (parity.jsonl, chat-templates/rendered.jsonl).</summary>
public sealed class QwenTokenizerParityTests
{
    [Theory]
    [MemberData(nameof(LoadedTokenizers.Names), MemberType = typeof(LoadedTokenizers))]
    public void Encode_gives_hugging_face_ids_for_every_parity_string(string tokenizerName)
    {
        var tokenizer = LoadedTokenizers.Get(tokenizerName);
        var mismatches = new List<string>();
        foreach (var parityCase in LoadedTokenizers.ParityCases)
        {
            var expected = LoadedTokenizers.Expected(parityCase, tokenizerName);
            var actual = tokenizer.Encode(parityCase.Text);
            if (!actual.SequenceEqual(expected))
                mismatches.Add($"{Escape(parityCase.Text)}\n  expected [{string.Join(", ", expected)}]\n  actual   [{string.Join(", ", actual)}]");
        }
        Assert.Equal(36, LoadedTokenizers.ParityCases.Count);
        Assert.True(mismatches.Count == 0, string.Join("\n", mismatches));
    }

    [Theory]
    [MemberData(nameof(LoadedTokenizers.Names), MemberType = typeof(LoadedTokenizers))]
    public void Decode_of_encode_is_the_nfc_text(string tokenizerName)
    {
        var tokenizer = LoadedTokenizers.Get(tokenizerName);
        foreach (var (text, _, _) in LoadedTokenizers.ParityCases)
            Assert.Equal(text.Normalize(NormalizationForm.FormC), tokenizer.Decode(tokenizer.Encode(text)));
    }

    [Theory]
    [MemberData(nameof(LoadedTokenizers.Names), MemberType = typeof(LoadedTokenizers))]
    public void Decode_of_hugging_face_ids_is_the_nfc_text(string tokenizerName)
    {
        var tokenizer = LoadedTokenizers.Get(tokenizerName);
        foreach (var parityCase in LoadedTokenizers.ParityCases)
            Assert.Equal(parityCase.Text.Normalize(NormalizationForm.FormC), tokenizer.Decode(LoadedTokenizers.Expected(parityCase, tokenizerName)));
    }

    [Fact]
    public void Rendered_chat_templates_encode_to_hugging_face_ids()
    {
        Assert.Equal(25, LoadedTokenizers.RenderedChats.Count);
        foreach (var (tokenizerName, name, text, ids) in LoadedTokenizers.RenderedChats)
        {
            var tokenizer = LoadedTokenizers.Get(tokenizerName);
            Assert.True(ids.Max() < tokenizer.VocabSize, $"{tokenizerName} {name}: the fixture holds an id outside its tokenizer");
            var actual = tokenizer.Encode(text);
            Assert.True(actual.SequenceEqual(ids),
                $"{tokenizerName} {name}\n  expected [{string.Join(", ", ids)}]\n  actual   [{string.Join(", ", actual)}]");
        }
    }

    [Theory]
    [MemberData(nameof(LoadedTokenizers.Names), MemberType = typeof(LoadedTokenizers))]
    public void Encode_gives_rust_tokenizers_ids_for_fuzzed_unicode(string tokenizerName)
    {
        var tokenizer = LoadedTokenizers.Get(tokenizerName);
        Assert.Equal(600, LoadedTokenizers.FuzzCases.Count);
        foreach (var fuzz in LoadedTokenizers.FuzzCases)
        {
            var expected = tokenizerName == "qwen3" ? fuzz.Qwen3 : fuzz.Qwen25;
            var actual = tokenizer.Encode(fuzz.Text);
            Assert.True(actual.SequenceEqual(expected),
                $"{Escape(fuzz.Text)}\n  expected [{string.Join(", ", expected)}]\n  actual   [{string.Join(", ", actual)}]");
        }
    }

    [Fact]
    public void Decode_gives_rust_tokenizers_text_for_fuzzed_unicode()
    {
        var tokenizer = LoadedTokenizers.Get("qwen3");
        foreach (var fuzz in LoadedTokenizers.FuzzCases)
        {
            Assert.Equal(fuzz.Qwen3Decoded, tokenizer.Decode(fuzz.Qwen3));
            Assert.Equal(fuzz.Qwen3DecodedSkipSpecial, tokenizer.Decode(fuzz.Qwen3, skipSpecialTokens: true));
        }
    }

    private static string Escape(string text) =>
        string.Concat(text.Select(c => c < 0x20 || c > 0x7E ? $"\\u{(int)c:X4}" : c.ToString()));
}
