using System.Text;

namespace QwenTune.Tests.Text;

public sealed class QwenTokenizerDecodeTests
{
    private static QwenTune.Text.QwenTokenizer Qwen3 => LoadedTokenizers.Get("qwen3");

    [Fact]
    public void A_lone_lead_byte_decodes_to_the_replacement_character()
    {
        // 中 is E4 B8 AD in UTF-8; in the GPT-2 byte alphabet E4 is 'ä' and B8 is '¸'. Python's
        // b"\xe4\xb8".decode("utf-8", "replace") is "\ufffd" (one maximal invalid subpart).
        var leadBytes = Qwen3.TokenToId("ä¸")!.Value;
        Assert.Equal("\uFFFD", Qwen3.Decode([leadBytes]));
        Assert.Equal("中", Qwen3.Decode([leadBytes, Qwen3.TokenToId("Ń")!.Value]));   // AD is 'Ń' (U+0143)
    }

    [Fact]
    public void Skipping_special_tokens_drops_only_tokens_marked_special()
    {
        var text = "<|im_start|>assistant\n<think>\nhm\n</think>\n\nHi<|im_end|>\n<|endoftext|>";
        var ids = Qwen3.Encode(text);
        Assert.Equal(text, Qwen3.Decode(ids));
        // <think> and </think> are added tokens with "special": false in tokenizer.json, so they stay.
        var expected = text.Replace("<|im_start|>", "").Replace("<|im_end|>", "").Replace("<|endoftext|>", "");
        Assert.Equal(expected, Qwen3.Decode(ids, skipSpecialTokens: true));
    }

    [Fact]
    public void Ids_without_a_token_are_skipped_like_hugging_face()
    {
        // Qwen models have 151,936 embedding rows but 151,669 tokens; Hugging Face drops ids it cannot map.
        var hello = Qwen3.Encode("Hello");
        Assert.Equal("Hello", Qwen3.Decode([.. hello, 151_900]));
    }

    [Fact]
    public void Negative_ids_are_refused()
    {
        Assert.Throws<ArgumentOutOfRangeException>(() => Qwen3.Decode([1, -100]));
    }

    [Fact]
    public void Encoding_from_several_threads_gives_the_same_ids()
    {
        var texts = LoadedTokenizers.ParityCases.Select(c => c.Text).ToArray();
        var tokenizer = QwenTune.Text.QwenTokenizer.FromDirectory(LoadedTokenizers.Directory("qwen3"));
        var results = new int[texts.Length * 8][];
        Parallel.For(0, results.Length, i => results[i] = tokenizer.Encode(texts[i % texts.Length]));
        for (var i = 0; i < results.Length; i++)
            Assert.Equal(LoadedTokenizers.ParityCases[i % texts.Length].Qwen3, results[i]);
    }

    [Fact]
    public void The_noncharacter_fffe_which_dotnet_refuses_to_normalise_is_kept_and_its_neighbours_normalised()
    {
        // Ids from the Rust tokenizers library (npm tokenizers 0.23.2) for "a\uFFFEe\u0301": a, EF BF BE, é.
        Assert.Equal("a\uFFFE\u00E9", Qwen3.Normalize("a\uFFFEe\u0301"));
        Assert.Equal([64, 5564, 122, 963], Qwen3.Encode("a\uFFFEe\u0301"));
    }

    [Fact]
    public void Unpaired_surrogates_normalise_to_the_replacement_character()
    {
        Assert.Equal("a\uFFFDb\uFFFD", Qwen3.Normalize("a\uD800b\uDC00"));
        Assert.Equal(Qwen3.Encode("a\uFFFDb"), Qwen3.Encode("a\uD800b"));
        Assert.Equal(Encoding.UTF8.GetString(Encoding.UTF8.GetBytes("a\uD800b")), Qwen3.Decode(Qwen3.Encode("a\uD800b")));
    }
}
