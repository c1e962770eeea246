namespace QwenTune.Jinja.Lexing;

/// <summary>
/// One lexical token. <see cref="Value"/> is the text for data, names and operators, and the decoded
/// value for string literals; <see cref="Literal"/> carries the parsed number for integer and float tokens.
/// </summary>
internal readonly record struct Token(TokenKind Kind, string Value, SourcePosition Position, object? Literal = null)
{
    public bool IsOperator(string op) => Kind == TokenKind.Operator && Value == op;

    public bool IsName(string name) => Kind == TokenKind.Name && Value == name;

    public string Describe() => Kind switch
    {
        TokenKind.Data => "template text",
        TokenKind.VariableBegin => "'{{'",
        TokenKind.VariableEnd => "'}}'",
        TokenKind.BlockBegin => "'{%'",
        TokenKind.BlockEnd => "'%}'",
        TokenKind.String => "string literal",
        TokenKind.EndOfTemplate => "end of template",
        _ => $"'{Value}'",
    };
}
