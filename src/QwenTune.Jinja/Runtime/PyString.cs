using System.Globalization;
using System.Text;

namespace QwenTune.Jinja.Runtime;

/// <summary>Python <c>str</c> methods with CPython's semantics (indices count code points, as Python does).</summary>
internal static class PyString
{
    private static readonly char[] LineBreaks = ['\n', '\r', '\v', '\f', '\x1c', '\x1d', '\x1e', '\x85', '\u2028', '\u2029'];

    public static List<object?> Split(string text, string? separator, long maxSplit)
    {
        var parts = new List<object?>();
        if (separator is null)
        {
            var i = 0;
            while (true)
            {
                while (i < text.Length && PyChar.IsSpace(text[i]))
                    i++;
                if (i >= text.Length)
                    break;
                if (maxSplit >= 0 && parts.Count == maxSplit)
                {
                    parts.Add(text[i..]);
                    break;
                }
                var j = i;
                while (j < text.Length && !PyChar.IsSpace(text[j]))
                    j++;
                parts.Add(text[i..j]);
                i = j;
            }
            return parts;
        }
        if (separator.Length == 0)
            throw new JinjaError("empty separator");
        var pieces = maxSplit < 0
            ? text.Split(separator)
            : text.Split(separator, (int)Math.Min(maxSplit + 1, int.MaxValue));
        parts.AddRange(pieces);
        return parts;
    }

    public static List<object?> RightSplit(string text, string? separator, long maxSplit)
    {
        var parts = new List<object?>();
        if (separator is null)
        {
            var end = text.Length;
            while (true)
            {
                while (end > 0 && PyChar.IsSpace(text[end - 1]))
                    end--;
                if (end <= 0)
                    break;
                if (maxSplit >= 0 && parts.Count == maxSplit)
                {
                    parts.Add(text[..end]);
                    break;
                }
                var start = end;
                while (start > 0 && !PyChar.IsSpace(text[start - 1]))
                    start--;
                parts.Add(text[start..end]);
                end = start;
            }
            parts.Reverse();
            return parts;
        }
        if (separator.Length == 0)
            throw new JinjaError("empty separator");
        var stop = text.Length;
        while (maxSplit < 0 || parts.Count < maxSplit)
        {
            var at = stop == 0 ? -1 : text.LastIndexOf(separator, stop - 1, stop, StringComparison.Ordinal);
            if (at < 0 || at + separator.Length > stop)
                break;
            parts.Add(text[(at + separator.Length)..stop]);
            stop = at;
        }
        parts.Add(text[..stop]);
        parts.Reverse();
        return parts;
    }

    public static List<object?> SplitLines(string text, bool keepEnds)
    {
        var lines = new List<object?>();
        var start = 0;
        while (start < text.Length)
        {
            var at = text.IndexOfAny(LineBreaks, start);
            if (at < 0)
            {
                lines.Add(text[start..]);
                break;
            }
            var breakLength = text[at] == '\r' && at + 1 < text.Length && text[at + 1] == '\n' ? 2 : 1;
            lines.Add(keepEnds ? text[start..(at + breakLength)] : text[start..at]);
            start = at + breakLength;
        }
        return lines;
    }

    public static string Strip(string text, string? chars, bool left, bool right)
    {
        var start = 0;
        var end = text.Length;
        Func<char, bool> strip = chars is null ? PyChar.IsSpace : c => chars.Contains(c);
        if (left)
        {
            while (start < end && strip(text[start]))
                start++;
        }
        if (right)
        {
            while (end > start && strip(text[end - 1]))
                end--;
        }
        return text[start..end];
    }

    public static string Replace(string text, string old, string replacement, long count)
    {
        if (count == 0)
            return text;
        if (old.Length == 0)
        {
            // Python inserts the replacement before every character and at the end.
            var builder = new StringBuilder();
            var inserted = 0L;
            foreach (var ch in Py.CodePoints(text))
            {
                if (count < 0 || inserted < count)
                {
                    builder.Append(replacement);
                    inserted++;
                }
                builder.Append((string)ch!);
            }
            if (count < 0 || inserted < count)
                builder.Append(replacement);
            return builder.ToString();
        }
        if (count < 0)
            return text.Replace(old, replacement, StringComparison.Ordinal);
        var result = new StringBuilder();
        var position = 0;
        for (var done = 0L; done < count; done++)
        {
            var at = text.IndexOf(old, position, StringComparison.Ordinal);
            if (at < 0)
                break;
            result.Append(text, position, at - position).Append(replacement);
            position = at + old.Length;
        }
        return result.Append(text, position, text.Length - position).ToString();
    }

    /// <summary>Python's <c>str.title()</c>: upper-case a cased character after an uncased one, lower-case the rest.</summary>
    public static string Title(string text)
    {
        var builder = new StringBuilder(text.Length);
        var previousCased = false;
        foreach (var c in text)
        {
            var cased = char.IsUpper(c) || char.IsLower(c) || CharUnicodeInfo.GetUnicodeCategory(c) == UnicodeCategory.TitlecaseLetter;
            builder.Append(cased ? (previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c)) : c);
            previousCased = cased;
        }
        return builder.ToString();
    }

    /// <summary>Python's <c>str.capitalize()</c>: first character upper-cased, the rest lower-cased.</summary>
    public static string Capitalize(string text) =>
        text.Length == 0 ? text : char.ToUpperInvariant(text[0]) + text[1..].ToLowerInvariant();

    public static bool StartsOrEndsWith(string text, object? affix, object? start, object? end, bool atStart, string method)
    {
        var (from, to) = Range(text, start, end);
        var window = text.AsSpan(from, Math.Max(0, to - from));
        IEnumerable<object?> candidates = affix switch
        {
            string s => [s],
            object?[] tuple => tuple,
            _ => throw new JinjaError($"{method} first arg must be str or a tuple of str, not {Py.TypeName(affix)}"),
        };
        foreach (var candidate in candidates)
        {
            if (candidate is not string s)
                throw new JinjaError($"tuple for {method} must only contain str, not {Py.TypeName(candidate)}");
            if (from <= to && (atStart ? window.StartsWith(s, StringComparison.Ordinal) : window.EndsWith(s, StringComparison.Ordinal)))
                return true;
        }
        return false;
    }

    public static long Find(string text, string sub, object? start, object? end, bool fromRight)
    {
        var (from, to) = Range(text, start, end);
        if (to < from)
            return -1;
        var at = fromRight
            ? text.AsSpan(from, to - from).LastIndexOf(sub, StringComparison.Ordinal)
            : text.AsSpan(from, to - from).IndexOf(sub, StringComparison.Ordinal);
        return at < 0 ? -1 : CodePointIndex(text, from + at);
    }

    public static long Count(string text, string sub, object? start, object? end)
    {
        var (from, to) = Range(text, start, end);
        if (to < from)
            return 0;
        if (sub.Length == 0)
            return Py.Length(text[from..to]) + 1;
        long count = 0;
        for (var at = text.IndexOf(sub, from, to - from, StringComparison.Ordinal); at >= 0 && at + sub.Length <= to;
             at = at + sub.Length <= to ? text.IndexOf(sub, at + sub.Length, to - at - sub.Length, StringComparison.Ordinal) : -1)
            count++;
        return count;
    }

    public static string Join(string separator, object? iterable)
    {
        var items = Py.Iterate(iterable);
        var builder = new StringBuilder();
        for (var i = 0; i < items.Count; i++)
        {
            if (items[i] is not string s)
                throw new JinjaError($"sequence item {i}: expected str instance, {Py.TypeName(items[i])} found");
            if (i > 0)
                builder.Append(separator);
            builder.Append(s);
        }
        return builder.ToString();
    }

    public static bool AllChars(string text, Func<char, bool> predicate) => text.Length > 0 && text.All(predicate);

    public static bool IsCaseOnly(string text, bool upper)
    {
        var anyCased = false;
        foreach (var c in text)
        {
            if (upper ? char.IsLower(c) : char.IsUpper(c))
                return false;
            anyCased |= char.IsUpper(c) || char.IsLower(c);
        }
        return anyCased;
    }

    /// <summary>Python slice bounds on code points, returned as UTF-16 offsets.</summary>
    private static (int From, int To) Range(string text, object? start, object? end)
    {
        var length = Py.Length(text);
        var from = Normalize(start, 0, length);
        var to = Normalize(end, length, length);
        return (Utf16Offset(text, from), Utf16Offset(text, Math.Max(from, to)) - (to < from ? 1 : 0));
    }

    private static int Normalize(object? index, int fallback, int length)
    {
        if (index is null or Undefined || index == BoundArguments.Missing)
            return fallback;
        var value = Py.AsInteger(index);
        if (value < 0)
            value += length;
        return (int)Math.Clamp(value, 0, length);
    }

    private static int Utf16Offset(string text, int codePointIndex)
    {
        if (!Py.HasSurrogates(text))
            return codePointIndex;
        var offset = 0;
        for (var i = 0; i < codePointIndex && offset < text.Length; i++)
            offset += char.IsHighSurrogate(text[offset]) && offset + 1 < text.Length && char.IsLowSurrogate(text[offset + 1]) ? 2 : 1;
        return offset;
    }

    private static long CodePointIndex(string text, int utf16Offset) =>
        Py.HasSurrogates(text) ? Py.Length(text[..utf16Offset]) : utf16Offset;
}
