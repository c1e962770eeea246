using System.Text;
using System.Text.RegularExpressions;
using QwenTune.Text;

namespace QwenTune.Tests.Text;

/// <summary>
/// The hand-written scanner against the regex it replaces, run by .NET's regex engine. On text inside the Basic
/// Multilingual Plane the two engines agree on \p{L}, \p{N} and \s, so .NET's Regex is an independent reference;
/// for astral code points each is first replaced by a BMP stand-in of the same class (Oniguruma, which Hugging Face
/// uses, classifies by code point).
/// </summary>
public sealed class QwenPreTokenizerTests
{
    private static readonly Regex Reference = new(QwenPreTokenizer.Pattern, RegexOptions.CultureInvariant);

    private static readonly string[] BmpPieces =
    [
        "a", "Z", "é", "ß", "中", "ア", "한", "ǅ", "ʰ",                    // letters (Ll, Lu, Lo, Lt, Lm)
        "0", "7", "٣", "½", "Ⅻ", "²",                                    // numbers (Nd, No, Nl)
        " ", " ", " ", "\t", "\n", "\r", "\r\n", "\u00A0", "\u3000", "\u2028", "\u0085", "\u000B", // whitespace
        ".", "!", "-", "_", "'", "\"", "(", "☺", "∑", "\u0301", "\u200B", "€",  // symbols, marks, format
        "'s", "'S", "'t", "'re", "'RE", "'ve", "'m", "'ll", "'Ll", "'d", "'x",
    ];

    [Fact]
    public void Splits_match_dotnet_regex_on_random_bmp_text()
    {
        var random = new Random(7);
        for (var trial = 0; trial < 3000; trial++)
        {
            var text = RandomText(random, BmpPieces, random.Next(1, 25));
            Assert.True(ReferenceSplits(text).SequenceEqual(ScannerSplits(text)), $"text: {Escape(text)}");
        }
    }

    [Fact]
    public void Astral_letters_digits_and_symbols_split_by_their_class()
    {
        // Stand-ins of the same class: 𝐀 and 𠮷 are letters, 𝟏 a digit, 😀 and the skin tone 🏽 symbols.
        var astral = new Dictionary<string, char> { ["𝐀"] = 'x', ["𠮷"] = 'x', ["𝟏"] = '5', ["😀"] = '#', ["🏽"] = '#' };
        var pieces = BmpPieces.Concat(astral.Keys).Concat(astral.Keys).ToArray();
        var random = new Random(11);
        for (var trial = 0; trial < 3000; trial++)
        {
            var text = RandomText(random, pieces, random.Next(1, 25));
            var proxy = new StringBuilder();
            var originalIndex = new List<int>();
            for (var i = 0; i < text.Length; i++)
            {
                originalIndex.Add(i);
                if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length)
                {
                    proxy.Append(astral[text.Substring(i, 2)]);
                    i++;
                }
                else
                {
                    proxy.Append(text[i]);
                }
            }
            originalIndex.Add(text.Length);
            var expected = ReferenceSplits(proxy.ToString())
                .Select(s => (originalIndex[s.Offset], originalIndex[s.Offset + s.Length] - originalIndex[s.Offset]));
            Assert.True(expected.SequenceEqual(ScannerSplits(text)), $"text: {Escape(text)}");
        }
    }

    [Fact]
    public void Digits_outside_the_bmp_are_single_splits()
    {
        // Oniguruma's \p{N} matches 𝟏 (U+1D7CF); a UTF-16 regex would see two surrogates and glue them to symbols.
        var splits = ScannerSplits("𝟏𝟐𝟑").Select(s => "𝟏𝟐𝟑".Substring(s.Offset, s.Length));
        Assert.Equal(["𝟏", "𝟐", "𝟑"], splits);
    }

    [Fact]
    public void Long_s_after_an_apostrophe_is_a_contraction_as_oniguruma_folds_case()
    {
        // Oniguruma's own test suite has x2("(?i)s", "\xc5\xbf", 0, 2): case-insensitive s matches U+017F. .NET's
        // Regex does not fold it, which is why 'ſ is left out of the random comparison above.
        var splits = ScannerSplits("it'ſo").Select(s => "it'ſo".Substring(s.Offset, s.Length));
        Assert.Equal(["it", "'ſ", "o"], splits); // without the fold: "it", "'ſo"
    }

    /// <summary>Isolated behaviour: every match is a split, and so is any text between matches.</summary>
    private static List<(int Offset, int Length)> ReferenceSplits(string text)
    {
        var splits = new List<(int Offset, int Length)>();
        var position = 0;
        foreach (Match match in Reference.Matches(text))
        {
            if (match.Index > position)
                splits.Add((position, match.Index - position));
            splits.Add((match.Index, match.Length));
            position = match.Index + match.Length;
        }
        if (position < text.Length)
            splits.Add((position, text.Length - position));
        return splits;
    }

    private static List<(int Offset, int Length)> ScannerSplits(string text) =>
        QwenPreTokenizer.Instance.PreTokenize(text).ToList();

    private static string RandomText(Random random, string[] pieces, int count) =>
        string.Concat(Enumerable.Range(0, count).Select(_ => pieces[random.Next(pieces.Length)]));

    private static string Escape(string text) =>
        string.Concat(text.Select(c => c < 0x20 || c > 0x7E ? $"\\u{(int)c:X4}" : c.ToString()));
}
