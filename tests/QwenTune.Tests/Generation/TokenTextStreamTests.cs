using System.Text;
using QwenTune.Generation;
using QwenTune.Text;

namespace QwenTune.Tests.Generation;

/// <summary>Streaming text token by token through characters that byte-level tokens split.</summary>
public sealed class TokenTextStreamTests
{
    private static readonly QwenTokenizer Tokenizer = QwenTokenizer.FromDirectory(Fixtures.File("tokenizers", "qwen2.5"));

    private const string Text = "Grüße 🙂🦄 from 東京 — ok";

    [Fact]
    public void Split_characters_stream_whole_and_the_pieces_join_to_the_text()
    {
        var ids = Tokenizer.Encode(Text);
        // The fixture must really split characters: more tokens than whole characters would need.
        Assert.Contains(ids, id => !IsWholeUtf8(Tokenizer.TokenBytes(id)));
        var stream = new TokenTextStream(Tokenizer);
        var pieces = ids.Select(stream.Push).Append(stream.Flush()).ToList();
        Assert.Equal(Text, string.Concat(pieces));
        Assert.DoesNotContain(pieces, p => p.Contains('\uFFFD', StringComparison.Ordinal));
        // A piece never ends in half of a surrogate pair: each can be printed as it comes.
        Assert.All(pieces, p => Assert.True(p.Length == 0 || !char.IsHighSurrogate(p[^1])));
    }

    [Fact]
    public void A_reply_cut_inside_a_character_holds_it_back_then_flushes_a_replacement_as_decode_does()
    {
        var ids = Tokenizer.Encode("ok 🦄");
        // The reply cut after the first token that ends inside the unicorn's four bytes.
        var broken = Enumerable.Range(1, ids.Length).First(n => !IsWholeUtf8([.. ids.Take(n).SelectMany(id => Tokenizer.TokenBytes(id))]));
        var cut = ids.Take(broken).ToArray();
        var stream = new TokenTextStream(Tokenizer);
        var streamed = string.Concat(cut.Select(stream.Push));
        Assert.Equal("ok ", streamed);
        var flushed = stream.Flush();
        Assert.Equal(Tokenizer.Decode(cut), streamed + flushed);
        Assert.Equal("\uFFFD", flushed);
    }

    [Fact]
    public void Special_tokens_are_left_out()
    {
        var stream = new TokenTextStream(Tokenizer);
        var imEnd = Tokenizer.TokenToId("<|im_end|>")!.Value;
        Assert.Equal("", stream.Push(imEnd));
        Assert.Equal("<|im_end|>", new TokenTextStream(Tokenizer, skipSpecialTokens: false).Push(imEnd));
    }

    private static bool IsWholeUtf8(byte[] bytes)
    {
        try
        {
            new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
            return true;
        }
        catch (DecoderFallbackException)
        {
            return false;
        }
    }
}
