namespace QwenTune.Jinja.Runtime;

internal static class PyChar
{
    /// <summary>
    /// Python's <c>str.isspace</c> (also what <c>\s</c> matches in Jinja's lexer): .NET's definition
    /// plus the four ASCII separators U+001C..U+001F that Python also counts.
    /// </summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    public static bool IsAllSpace(ReadOnlySpan<char> text)
    {
        foreach (var c in text)
        {
            if (!IsSpace(c))
                return false;
        }
        return true;
    }
}
