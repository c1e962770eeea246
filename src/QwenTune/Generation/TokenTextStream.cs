using System.Text;
using QwenTune.Text;

namespace QwenTune.Generation;

/// <summary>
/// Turns tokens into text as they are generated. A byte-level token can end in the middle of a UTF-8 character
/// (a CJK character or an emoji is often two or three tokens), so the token bytes go through one stateful UTF-8
/// decoder that holds an incomplete character back until its last byte arrives; the pieces joined equal
/// <see cref="QwenTokenizer.Decode"/> of all the tokens.
/// </summary>
public sealed class TokenTextStream(QwenTokenizer tokenizer, bool skipSpecialTokens = true)
{
    private readonly Decoder _decoder = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: false).GetDecoder();

    /// <summary>The text that <paramref name="token"/> completes; empty while a character is still incomplete.</summary>
    public string Push(int token) => Decode(tokenizer.TokenBytes(token, skipSpecialTokens), flush: false);

    /// <summary>What is left at the end: U+FFFD for a character the reply never finished, as Decode writes it.</summary>
    public string Flush() => Decode([], flush: true);

    private string Decode(byte[] bytes, bool flush)
    {
        var chars = new char[_decoder.GetCharCount(bytes, flush)];
        var count = _decoder.GetChars(bytes, chars, flush);
        return new string(chars, 0, count);
    }
}
