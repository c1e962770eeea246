using System.Buffers;

namespace QwenTune.Text;

/// <summary>
/// Finds added tokens (<c>&lt;|im_start|&gt;</c>, <c>&lt;think&gt;</c>, ...) inside text, as Hugging Face does with
/// <c>split_special_tokens=False</c>: leftmost match first, the longest token when several start at the same place
/// (tokenizers <c>added_vocabulary.rs</c> builds a leftmost-longest Aho-Corasick automaton). The text between
/// matches goes through normalisation and BPE; a match becomes its one id.
/// </summary>
internal sealed class AddedTokenSplitter
{
    /// <summary>Tokens grouped by first character, longest first within a group.</summary>
    private readonly Dictionary<char, (string Content, int Id)[]> _byFirstChar;
    private readonly SearchValues<char> _firstChars;

    public AddedTokenSplitter(IEnumerable<(string Content, int Id)> tokens)
    {
        _byFirstChar = tokens
            .Where(t => t.Content.Length > 0)
            .GroupBy(t => t.Content[0])
            .ToDictionary(g => g.Key, g => g.OrderByDescending(t => t.Content.Length).ToArray());
        _firstChars = SearchValues.Create([.. _byFirstChar.Keys]);
    }

    /// <summary>A piece of text: an added token (Id >= 0) or ordinary text (Id = -1).</summary>
    public readonly record struct Segment(int Start, int Length, int Id)
    {
        public bool IsAddedToken => Id >= 0;
    }

    public List<Segment> Split(ReadOnlySpan<char> text)
    {
        var segments = new List<Segment>();
        var ordinaryStart = 0;
        var position = 0;
        while (position < text.Length)
        {
            var found = text[position..].IndexOfAny(_firstChars);
            if (found < 0)
                break;
            position += found;
            if (MatchAt(text, position) is (var length, var id))
            {
                if (position > ordinaryStart)
                    segments.Add(new Segment(ordinaryStart, position - ordinaryStart, -1));
                segments.Add(new Segment(position, length, id));
                position += length;
                ordinaryStart = position;
            }
            else
            {
                position++;
            }
        }
        if (text.Length > ordinaryStart)
            segments.Add(new Segment(ordinaryStart, text.Length - ordinaryStart, -1));
        return segments;
    }

    private (int Length, int Id)? MatchAt(ReadOnlySpan<char> text, int position)
    {
        foreach (var (content, id) in _byFirstChar[text[position]])
        {
            if (text[position..].StartsWith(content, StringComparison.Ordinal))
                return (content.Length, id);
        }
        return null;
    }
}
