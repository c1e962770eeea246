using System.Text;
using Microsoft.ML.Tokenizers;

namespace QwenTune.Text;

/// <summary>
/// Unicode NFC, the <c>{"type": "NFC"}</c> normalizer of Qwen's tokenizer.json (the library ships no NFC normalizer).
/// Text that is already NFC, which is nearly all text, comes back as the same instance without a copy.
/// </summary>
internal sealed class NfcNormalizer : Normalizer
{
    public static NfcNormalizer Instance { get; } = new();

    private NfcNormalizer() { }

    public override string Normalize(string original) =>
        IsAsciiOrNormalized(original) ? original : NormalizeInvalidSafe(original);

    public override string Normalize(ReadOnlySpan<char> original) => Normalize(original.ToString());

    private static bool IsAsciiOrNormalized(string text) =>
        System.Text.Ascii.IsValid(text) || TryIsNormalized(text);

    private static bool TryIsNormalized(string text)
    {
        try
        {
            return text.IsNormalized(NormalizationForm.FormC);
        }
        catch (ArgumentException)
        {
            return false; // unpaired surrogate; handled below
        }
    }

    /// <summary>
    /// NFC of text that string.Normalize refuses: it throws on unpaired surrogates and on the noncharacter U+FFFE.
    /// Unpaired surrogates become U+FFFD, which is what UTF-8 encoding turns them into anyway, so the normalised text
    /// and its bytes stay in step; U+FFFE, which NFC leaves alone and which composes with nothing, is kept, and the
    /// text between such characters is normalised on its own.
    /// </summary>
    private static string NormalizeInvalidSafe(string text)
    {
        try
        {
            return text.Normalize(NormalizationForm.FormC);
        }
        catch (ArgumentException)
        {
            var builder = new StringBuilder(text.Length);
            var segmentStart = 0;
            for (var i = 0; i < text.Length; i++)
            {
                var c = text[i];
                if (char.IsHighSurrogate(c) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]))
                {
                    i++;
                    continue;
                }
                if (!char.IsSurrogate(c) && c != '\uFFFE')
                    continue;
                AppendNormalized(builder, text[segmentStart..i]);
                builder.Append(char.IsSurrogate(c) ? '\uFFFD' : c);
                segmentStart = i + 1;
            }
            AppendNormalized(builder, text[segmentStart..]);
            return builder.ToString();
        }
    }

    private static void AppendNormalized(StringBuilder builder, string segment)
    {
        try
        {
            builder.Append(segment.Normalize(NormalizationForm.FormC));
        }
        catch (ArgumentException)
        {
            builder.Append(segment); // nothing else is known to be refused; keep the text rather than fail
        }
    }
}
