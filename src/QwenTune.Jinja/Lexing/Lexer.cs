using System.Globalization;
using System.Text;
using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Lexing;

/// <summary>
/// Splits a template into tokens the way Jinja2's lexer does under Hugging Face's settings
/// (<c>trim_blocks=True</c>, <c>lstrip_blocks=True</c>, <c>keep_trailing_newline=False</c>):
/// see jinja2/lexer.py <c>Lexer.tokeniter</c>, whose rules are mirrored here one by one.
/// </summary>
internal sealed class Lexer
{
    // Longest first, as Jinja sorts its operator regex.
    private static readonly string[] Operators =
    [
        "//", "**", "==", "!=", ">=", "<=",
        "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}", ">", "<", "=", ".", ":", "|", ",", ";",
    ];

    private readonly string _source;
    private readonly string _templateName;
    private readonly SourceMap _map;
    private readonly List<Token> _tokens = [];
    private readonly Stack<(char Close, int Offset)> _brackets = new();
    private int _pos;

    // Jinja's `line_starting`: whether the previous match ended with a newline. lstrip_blocks may then
    // strip indentation before a tag even when the text before it holds no newline of its own.
    private bool _lineStarting = true;

    private Lexer(string source, string templateName)
    {
        _source = source;
        _templateName = templateName;
        _map = new SourceMap(source);
    }

    /// <summary>Newlines become "\n" and one trailing newline is dropped, as Jinja does before lexing.</summary>
    public static string NormalizeSource(string source)
    {
        var normalized = source.Contains('\r') ? source.Replace("\r\n", "\n").Replace('\r', '\n') : source;
        return normalized.EndsWith('\n') ? normalized[..^1] : normalized;
    }

    public static List<Token> Tokenize(string normalizedSource, string templateName)
    {
        var lexer = new Lexer(normalizedSource, templateName);
        lexer.Run();
        return lexer._tokens;
    }

    private void Run()
    {
        while (_pos < _source.Length)
        {
            var open = FindTagOpening(_pos);
            if (open < 0)
            {
                Emit(TokenKind.Data, _source[_pos..], _pos);
                break;
            }

            var kind = _source[open + 1];
            var sign = open + 2 < _source.Length && _source[open + 2] is '-' or '+' ? _source[open + 2] : '\0';
            var rawEnd = kind == '%' ? MatchRawOpening(open) : -1;
            var text = _source[_pos..open];
            if (sign == '-')
                text = text.TrimEnd(PyWhitespace);
            else if (sign != '+' && kind != '{')
                text = LStripBlockIndent(text);
            if (text.Length > 0)
                Emit(TokenKind.Data, text, _pos);
            _lineStarting = false;

            var afterOpening = open + 2 + (sign == '\0' ? 0 : 1);
            if (rawEnd >= 0)
            {
                _lineStarting = _source[rawEnd - 1] == '\n';
                LexRaw(rawEnd);
            }
            else if (kind == '#')
                SkipComment(open, afterOpening);
            else
                LexTag(open, afterOpening, kind == '%');
        }
        Emit(TokenKind.EndOfTemplate, "", _source.Length);
    }

    private static readonly char[] PyWhitespace = BuildPyWhitespace();

    private static readonly System.Buffers.SearchValues<char> HexDigits = System.Buffers.SearchValues.Create("0123456789abcdefABCDEF");

    private static char[] BuildPyWhitespace()
    {
        var chars = new List<char>();
        for (var c = 0; c <= 0xFFFF; c++)
        {
            if (PyChar.IsSpace((char)c))
                chars.Add((char)c);
        }
        return [.. chars];
    }

    private int FindTagOpening(int from)
    {
        for (var i = _source.IndexOf('{', from); i >= 0 && i + 1 < _source.Length; i = _source.IndexOf('{', i + 1))
        {
            if (_source[i + 1] is '{' or '%' or '#')
                return i;
        }
        return -1;
    }

    /// <summary>lstrip_blocks: drop spaces and tabs between the start of a line and a block or comment tag.</summary>
    private string LStripBlockIndent(string text)
    {
        var lineStart = text.LastIndexOf('\n') + 1;
        if ((lineStart > 0 || _lineStarting) && lineStart < text.Length && PyChar.IsAllSpace(text.AsSpan(lineStart)))
            return text[..lineStart];
        return text;
    }

    /// <summary>Matches <c>{%[-+]? raw [-]%}</c> at <paramref name="open"/>; returns the offset after it or -1.</summary>
    private int MatchRawOpening(int open)
    {
        var i = open + 2;
        if (i < _source.Length && _source[i] is '-' or '+')
            i++;
        i = SkipSpaces(i);
        if (!StartsWithAt(i, "raw"))
            return -1;
        i = SkipSpaces(i + 3);
        if (StartsWithAt(i, "-%}"))
            return SkipSpaces(i + 3);
        return StartsWithAt(i, "%}") ? i + 2 : -1;
    }

    private void LexRaw(int bodyStart)
    {
        for (var open = _source.IndexOf("{%", bodyStart, StringComparison.Ordinal); open >= 0;
             open = _source.IndexOf("{%", open + 2, StringComparison.Ordinal))
        {
            var i = open + 2;
            var sign = i < _source.Length && _source[i] is '-' or '+' ? _source[i] : '\0';
            if (sign != '\0')
                i++;
            i = SkipSpaces(i);
            if (!StartsWithAt(i, "endraw"))
                continue;
            i = SkipSpaces(i + 6);
            var end = MatchBlockEnd(i);
            if (end < 0)
                continue;
            var text = _source[bodyStart..open];
            if (sign == '-')
                text = text.TrimEnd(PyWhitespace);
            else if (sign != '+')
                text = LStripBlockIndent(text);
            if (text.Length > 0)
                Emit(TokenKind.Data, text, bodyStart);
            Advance(end);
            return;
        }
        throw Error(bodyStart, "missing '{% endraw %}' for this raw block");
    }

    private void SkipComment(int open, int bodyStart)
    {
        var close = _source.IndexOf("#}", bodyStart, StringComparison.Ordinal);
        if (close < 0)
            throw Error(open, "comment is never closed: expected '#}'");
        var end = close + 2;
        if (close - 1 >= bodyStart && _source[close - 1] == '-')
            end = SkipSpaces(end);
        else if (!(close - 1 >= bodyStart && _source[close - 1] == '+') && end < _source.Length && _source[end] == '\n')
            end++; // trim_blocks applies to comments too
        Advance(end);
    }

    private void LexTag(int open, int pos, bool isBlock)
    {
        Emit(isBlock ? TokenKind.BlockBegin : TokenKind.VariableBegin, isBlock ? "{%" : "{{", open);
        _pos = pos;
        while (true)
        {
            if (_brackets.Count == 0)
            {
                var end = isBlock ? MatchBlockEnd(_pos) : MatchVariableEnd(_pos);
                if (end >= 0)
                {
                    Emit(isBlock ? TokenKind.BlockEnd : TokenKind.VariableEnd, isBlock ? "%}" : "}}", _pos);
                    Advance(end);
                    return;
                }
            }
            if (_pos >= _source.Length)
            {
                if (_brackets.Count > 0)
                    throw Error(_brackets.Peek().Offset, $"this bracket is never closed: expected '{_brackets.Peek().Close}'");
                throw Error(open, $"tag is never closed: expected '{(isBlock ? "%}" : "}}")}'");
            }
            if (PyChar.IsSpace(_source[_pos]))
            {
                _pos++;
                continue;
            }
            LexExpressionToken();
        }
    }

    /// <summary>Block ends: <c>+%}</c>, <c>-%}</c> plus following whitespace, or <c>%}</c> plus one newline (trim_blocks).</summary>
    private int MatchBlockEnd(int i)
    {
        if (StartsWithAt(i, "+%}"))
            return i + 3;
        if (StartsWithAt(i, "-%}"))
            return SkipSpaces(i + 3);
        if (StartsWithAt(i, "%}"))
            return StartsWithAt(i + 2, "\n") ? i + 3 : i + 2;
        return -1;
    }

    private int MatchVariableEnd(int i)
    {
        if (StartsWithAt(i, "-}}"))
            return SkipSpaces(i + 3);
        return StartsWithAt(i, "}}") ? i + 2 : -1;
    }

    private bool StartsWithAt(int i, string text) =>
        i <= _source.Length - text.Length && _source.AsSpan(i, text.Length).SequenceEqual(text);

    private void LexExpressionToken()
    {
        var start = _pos;
        var c = _source[start];
        if (char.IsAsciiDigit(c))
        {
            LexNumber(start);
            return;
        }
        if (c == '_' || char.IsLetter(c))
        {
            var end = start + 1;
            while (end < _source.Length && IsNameChar(_source[end]))
                end++;
            Emit(TokenKind.Name, _source[start..end], start);
            _pos = end;
            return;
        }
        if (c is '\'' or '"')
        {
            LexString(start);
            return;
        }
        foreach (var op in Operators)
        {
            if (!StartsWithAt(start, op))
                continue;
            TrackBracket(op[0], start);
            Emit(TokenKind.Operator, op, start);
            _pos = start + op.Length;
            return;
        }
        throw Error(start, $"unexpected character '{c}'");
    }

    private static bool IsNameChar(char c) =>
        c == '_' || char.IsLetterOrDigit(c) ||
        char.GetUnicodeCategory(c) is UnicodeCategory.NonSpacingMark or UnicodeCategory.SpacingCombiningMark
            or UnicodeCategory.ConnectorPunctuation;

    private void TrackBracket(char c, int offset)
    {
        switch (c)
        {
            case '(':
                _brackets.Push((')', offset));
                break;
            case '[':
                _brackets.Push((']', offset));
                break;
            case '{':
                _brackets.Push(('}', offset));
                break;
            case ')' or ']' or '}':
                if (_brackets.Count == 0)
                    throw Error(offset, $"unexpected '{c}'");
                var expected = _brackets.Pop().Close;
                if (expected != c)
                    throw Error(offset, $"unexpected '{c}', expected '{expected}'");
                break;
        }
    }

    /// <summary>Jinja's integer and float rules: decimal with '_' separators, 0b/0o/0x, fraction and exponent.</summary>
    private void LexNumber(int start)
    {
        var i = start;
        if (_source[i] == '0' && i + 1 < _source.Length && char.ToLowerInvariant(_source[i + 1]) is 'b' or 'o' or 'x')
        {
            var radix = char.ToLowerInvariant(_source[i + 1]) switch { 'b' => 2, 'o' => 8, _ => 16 };
            var end = i + 2;
            while (end < _source.Length && (_source[end] == '_' || IsRadixDigit(_source[end], radix)))
                end++;
            var digits = _source[(i + 2)..end].Replace("_", "");
            if (digits.Length == 0)
                throw Error(start, "invalid number literal");
            long value;
            try
            {
                var unsigned = Convert.ToUInt64(digits, radix);
                value = unsigned <= long.MaxValue ? (long)unsigned : throw new OverflowException();
            }
            catch (OverflowException)
            {
                throw Error(start, $"integer literal {_source[start..end]} does not fit in 64 bits");
            }
            Emit(TokenKind.Integer, _source[start..end], start, value);
            _pos = end;
            return;
        }

        i = ScanDigits(i);
        var isFloat = false;
        // A float may not follow a '.', so `a.0.1` reads as attribute/item accesses (Jinja's float_re lookbehind).
        var afterDot = start > 0 && _source[start - 1] == '.';
        if (!afterDot && i + 1 < _source.Length && _source[i] == '.' && char.IsAsciiDigit(_source[i + 1]))
        {
            i = ScanDigits(i + 1);
            isFloat = true;
        }
        if (!afterDot && i < _source.Length && _source[i] is 'e' or 'E')
        {
            var j = i + 1;
            if (j < _source.Length && _source[j] is '+' or '-')
                j++;
            if (j < _source.Length && char.IsAsciiDigit(_source[j]))
            {
                i = ScanDigits(j);
                isFloat = true;
            }
        }
        var text = _source[start..i];
        if (!isFloat && text.Length > 1 && text[0] == '0' && text.Replace("_", "").TrimStart('0').Length > 0)
            throw Error(start, $"leading zeros are not allowed in integer literal {text}");
        var clean = text.Replace("_", "");
        if (isFloat)
        {
            Emit(TokenKind.Float, text, start, double.Parse(clean, NumberStyles.Float, CultureInfo.InvariantCulture));
        }
        else
        {
            if (!long.TryParse(clean, NumberStyles.None, CultureInfo.InvariantCulture, out var value))
                throw Error(start, $"integer literal {text} does not fit in 64 bits");
            Emit(TokenKind.Integer, text, start, value);
        }
        _pos = i;
    }

    private int ScanDigits(int i)
    {
        while (i < _source.Length && (char.IsAsciiDigit(_source[i]) || (_source[i] == '_' && i + 1 < _source.Length && char.IsAsciiDigit(_source[i + 1]))))
            i++;
        return i;
    }

    private static bool IsRadixDigit(char c, int radix) => radix switch
    {
        2 => c is '0' or '1',
        8 => c is >= '0' and <= '7',
        _ => char.IsAsciiHexDigit(c),
    };

    /// <summary>A quoted literal decoded like Python's "unicode-escape" codec, which Jinja applies.</summary>
    private void LexString(int start)
    {
        var quote = _source[start];
        var value = new StringBuilder();
        var i = start + 1;
        while (true)
        {
            if (i >= _source.Length)
                throw Error(start, "string literal is never closed");
            var c = _source[i];
            if (c == quote)
                break;
            if (c != '\\')
            {
                value.Append(c);
                i++;
                continue;
            }
            if (i + 1 >= _source.Length)
                throw Error(start, "string literal is never closed");
            i = DecodeEscape(i, value);
        }
        Emit(TokenKind.String, value.ToString(), start);
        _pos = i + 1;
    }

    private int DecodeEscape(int backslash, StringBuilder value)
    {
        var e = _source[backslash + 1];
        var i = backslash + 2;
        switch (e)
        {
            case '\n':
                return i; // line continuation
            case '\\' or '\'' or '"':
                value.Append(e);
                return i;
            case 'a':
                value.Append('\a');
                return i;
            case 'b':
                value.Append('\b');
                return i;
            case 'f':
                value.Append('\f');
                return i;
            case 'n':
                value.Append('\n');
                return i;
            case 'r':
                value.Append('\r');
                return i;
            case 't':
                value.Append('\t');
                return i;
            case 'v':
                value.Append('\v');
                return i;
            case 'x':
                return AppendHexEscape(backslash, 2, value);
            case 'u':
                return AppendHexEscape(backslash, 4, value);
            case 'U':
                return AppendHexEscape(backslash, 8, value);
            case 'N':
                throw Error(backslash, @"\N{...} escapes are not supported; write the character itself");
            case >= '0' and <= '7':
            {
                var code = 0;
                var j = backslash + 1;
                while (j < backslash + 4 && j < _source.Length && _source[j] is >= '0' and <= '7')
                    code = code * 8 + (_source[j++] - '0');
                value.Append((char)code);
                return j;
            }
            default:
                // Python keeps unknown escapes verbatim.
                value.Append('\\').Append(e);
                return i;
        }
    }

    private int AppendHexEscape(int backslash, int digits, StringBuilder value)
    {
        var start = backslash + 2;
        if (start + digits > _source.Length || _source.AsSpan(start, digits).ContainsAnyExcept(HexDigits))
            throw Error(backslash, $"truncated \\{_source[backslash + 1]} escape: expected {digits} hex digits");
        var code = int.Parse(_source.AsSpan(start, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        if (code > 0x10FFFF)
            throw Error(backslash, "\\U escape is outside the Unicode range");
        if (code is >= 0xD800 and <= 0xDFFF)
            value.Append((char)code);
        else
            value.Append(char.ConvertFromUtf32(code));
        return start + digits;
    }

    private int SkipSpaces(int i)
    {
        while (i < _source.Length && PyChar.IsSpace(_source[i]))
            i++;
        return i;
    }

    private void Advance(int end)
    {
        _lineStarting = end > 0 && _source[end - 1] == '\n';
        _pos = end;
    }

    private void Emit(TokenKind kind, string value, int offset, object? literal = null) =>
        _tokens.Add(new Token(kind, value, _map.At(offset), literal));

    private TemplateSyntaxException Error(int offset, string reason) => new(_templateName, _map.At(offset), reason);
}
