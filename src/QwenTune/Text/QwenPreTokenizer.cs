using System.Globalization;
using Microsoft.ML.Tokenizers;

namespace QwenTune.Text;

/// <summary>
/// Qwen's Split pre-tokenizer (behaviour Isolated) as a hand-written scanner over code points. It reproduces
/// <see cref="Pattern"/>, which Hugging Face runs with Oniguruma on UTF-8. A .NET <c>Regex</c> of the same text
/// would be wrong and slow: it matches UTF-16 units, so <c>\p{L}</c>/<c>\p{N}</c> miss letters and digits outside
/// the Basic Multilingual Plane (𝐀, 𝟏, 𠮷), and backtracking alternations cost more than one forward scan.
/// </summary>
/// <remarks>
/// The alternatives, tried in order at each position (every character is matched by one of them, so the splits
/// tile the text):
/// 1. <c>(?i:'s|'t|'re|'ve|'m|'ll|'d)</c>: English contractions after U+0027.
/// 2. <c>[^\r\n\p{L}\p{N}]?\p{L}+</c>: a letter run, with one leading non-letter, non-digit, non-newline.
/// 3. <c>\p{N}</c>: one digit (so numbers split into single digits).
/// 4. <c> ?[^\s\p{L}\p{N}]+[\r\n]*</c>: a run of symbols with an optional leading space, then trailing newlines.
/// 5. <c>\s*[\r\n]+</c>: whitespace through its last newline.
/// 6. <c>\s+(?!\S)</c>: whitespace except the last character before a non-space (which then leads the next word).
/// 7. <c>\s+</c>: the remaining whitespace.
/// </remarks>
internal sealed class QwenPreTokenizer : PreTokenizer
{
    /// <summary>The Split regex of Qwen2, Qwen2.5 and Qwen3 tokenizer.json files.</summary>
    public const string Pattern =
        @"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

    public static QwenPreTokenizer Instance { get; } = new();

    private enum CharClass : byte
    {
        Symbol,     // not whitespace, letter or digit: [^\s\p{L}\p{N}]
        Letter,     // \p{L}
        Number,     // \p{N}
        Space,      // \s other than CR and LF
        Newline,    // \r or \n
    }

    private static readonly CharClass[] AsciiClasses = BuildAsciiClasses();

    private QwenPreTokenizer() { }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(string text)
    {
        for (var start = 0; start < text.Length;)
        {
            var end = ChunkEnd(text, start);
            yield return (start, end - start);
            start = end;
        }
    }

    public override IEnumerable<(int Offset, int Length)> PreTokenize(ReadOnlySpan<char> text)
    {
        var splits = new List<(int Offset, int Length)>();
        for (var start = 0; start < text.Length;)
        {
            var end = ChunkEnd(text, start);
            splits.Add((start, end - start));
            start = end;
        }
        return splits;
    }

    /// <summary>The exclusive end of the split that starts at <paramref name="start"/>.</summary>
    public static int ChunkEnd(ReadOnlySpan<char> text, int start)
    {
        var first = Classify(text, start, out var firstWidth);

        if (text[start] == '\'' && ContractionLength(text, start) is var contraction and > 0)
            return start + contraction;

        if (first == CharClass.Letter)
            return RunEnd(text, start, CharClass.Letter);
        if (first is CharClass.Symbol or CharClass.Space
            && start + firstWidth < text.Length
            && Classify(text, start + firstWidth, out _) == CharClass.Letter)
            return RunEnd(text, start + firstWidth, CharClass.Letter);

        if (first == CharClass.Number)
            return start + firstWidth;

        if (text[start] == ' ' && start + 1 < text.Length && Classify(text, start + 1, out _) == CharClass.Symbol)
            return NewlinesEnd(text, RunEnd(text, start + 1, CharClass.Symbol));
        if (first == CharClass.Symbol)
            return NewlinesEnd(text, RunEnd(text, start, CharClass.Symbol));

        // Whitespace (every \s character is in the BMP, so one char each).
        var spaceEnd = start;
        var lastNewline = -1;
        while (spaceEnd < text.Length && Classify(text, spaceEnd, out _) is CharClass.Space or CharClass.Newline)
        {
            if (text[spaceEnd] is '\r' or '\n')
                lastNewline = spaceEnd;
            spaceEnd++;
        }
        if (lastNewline >= 0)
            return lastNewline + 1;
        if (spaceEnd == text.Length || spaceEnd - start == 1)
            return spaceEnd;
        return spaceEnd - 1;
    }

    /// <summary>
    /// Length of a contraction at an apostrophe, or 0. Case-insensitive as Oniguruma folds case, which also folds
    /// U+017F (long s) to 's'.
    /// </summary>
    private static int ContractionLength(ReadOnlySpan<char> text, int apostrophe)
    {
        var rest = text[(apostrophe + 1)..];
        if (rest.IsEmpty)
            return 0;
        switch (char.ToLowerInvariant(rest[0]))
        {
            case 's' or '\u017F' or 't' or 'm' or 'd':
                return 2;
            case 'r' when rest.Length > 1 && char.ToLowerInvariant(rest[1]) == 'e':
            case 'v' when rest.Length > 1 && char.ToLowerInvariant(rest[1]) == 'e':
            case 'l' when rest.Length > 1 && char.ToLowerInvariant(rest[1]) == 'l':
                return 3;
            default:
                return 0;
        }
    }

    private static int RunEnd(ReadOnlySpan<char> text, int position, CharClass runClass)
    {
        while (position < text.Length && Classify(text, position, out var width) == runClass)
            position += width;
        return position;
    }

    private static int NewlinesEnd(ReadOnlySpan<char> text, int position)
    {
        while (position < text.Length && text[position] is '\r' or '\n')
            position++;
        return position;
    }

    /// <summary>The class of the code point at <paramref name="index"/> and its UTF-16 width (2 for a surrogate pair).</summary>
    private static CharClass Classify(ReadOnlySpan<char> text, int index, out int width)
    {
        var c = text[index];
        if (c < 0x80)
        {
            width = 1;
            return AsciiClasses[c];
        }
        if (char.IsHighSurrogate(c) && index + 1 < text.Length && char.IsLowSurrogate(text[index + 1]))
        {
            width = 2;
            return FromCategory(CharUnicodeInfo.GetUnicodeCategory(char.ConvertToUtf32(c, text[index + 1])));
        }
        width = 1;
        // char.IsWhiteSpace is Unicode's White_Space property, the set Oniguruma's \s matches.
        return char.IsWhiteSpace(c) ? CharClass.Space : FromCategory(CharUnicodeInfo.GetUnicodeCategory(c));
    }

    private static CharClass FromCategory(UnicodeCategory category) => category switch
    {
        UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
            or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => CharClass.Letter,
        UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => CharClass.Number,
        _ => CharClass.Symbol,
    };

    private static CharClass[] BuildAsciiClasses()
    {
        var classes = new CharClass[128];
        for (var c = 0; c < classes.Length; c++)
        {
            classes[c] = c is '\r' or '\n' ? CharClass.Newline
                : char.IsWhiteSpace((char)c) ? CharClass.Space
                : FromCategory(CharUnicodeInfo.GetUnicodeCategory((char)c));
        }
        return classes;
    }
}
