using QwenTune.Jinja.Lexing;
using QwenTune.Jinja.Library;
using QwenTune.Jinja.Nodes;
using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Parsing;

/// <summary>
/// Recursive-descent parser following jinja2/parser.py rule by rule (operator precedence, filters binding
/// tighter than arithmetic, tests after filters, <c>if</c> without <c>else</c>). Everything the interpreter
/// cannot run — unknown tags, filters, tests, functions, methods — is rejected here, with its position,
/// so a template never fails for that reason halfway through rendering a data set.
/// </summary>
internal sealed partial class Parser
{
    private static readonly HashSet<string> UnsupportedTags =
    [
        "block", "extends", "include", "import", "from", "with", "filter", "call", "autoescape", "do", "trans", "pluralize",
    ];

    private readonly List<Token> _tokens;
    private readonly string _templateName;
    private readonly Stack<(string Tag, SourcePosition Position, string[] EndTags)> _openBlocks = new();
    private readonly HashSet<string> _macroNames = new(StringComparer.Ordinal);
    private readonly List<(string Name, SourcePosition Position, CallSite Arguments, GlobalFunction? Global)> _namedCalls = [];
    private int _index;
    private int _loopDepth;
    private int _nesting;

    // Deeper nesting than any real template has; bounding it keeps a hostile template from overflowing the stack.
    private const int MaxNesting = 200;

    private Parser(List<Token> tokens, string templateName)
    {
        _tokens = tokens;
        _templateName = templateName;
    }

    public static IReadOnlyList<Statement> Parse(List<Token> tokens, string templateName)
    {
        var parser = new Parser(tokens, templateName);
        var body = parser.Subparse(null);
        parser.ValidateNamedCalls();
        return body;
    }

    private Token Current => _tokens[_index];

    private Token Peek(int offset) => _tokens[Math.Min(_index + offset, _tokens.Count - 1)];

    private Token Next()
    {
        var token = _tokens[_index];
        if (_index < _tokens.Count - 1)
            _index++;
        return token;
    }

    private Token Expect(TokenKind kind, string what)
    {
        if (Current.Kind != kind)
            throw Error(Current.Position, $"expected {what}, got {Current.Describe()}");
        return Next();
    }

    private Token ExpectOperator(string op)
    {
        if (!Current.IsOperator(op))
            throw Error(Current.Position, $"expected '{op}', got {Current.Describe()}");
        return Next();
    }

    private void ExpectName(string name)
    {
        if (!Current.IsName(name))
            throw Error(Current.Position, $"expected '{name}', got {Current.Describe()}");
        Next();
    }

    private void ExpectBlockEnd() => Expect(TokenKind.BlockEnd, "'%}' to end the tag");

    private TemplateSyntaxException Error(SourcePosition position, string reason) => new(_templateName, position, reason);

    private T Nested<T>(Func<T> parse)
    {
        if (++_nesting > MaxNesting)
            throw Error(Current.Position, $"blocks or expressions nested more than {MaxNesting} levels deep");
        try
        {
            return parse();
        }
        finally
        {
            _nesting--;
        }
    }

    /// <summary>Statements until the end of the template, or until a tag named in <paramref name="endTags"/> (left current).</summary>
    private List<Statement> Subparse(string[]? endTags)
    {
        var body = new List<Statement>();
        while (true)
        {
            var token = Current;
            switch (token.Kind)
            {
                case TokenKind.Data:
                    Next();
                    body.Add(new TextStatement(token.Position, token.Value));
                    break;
                case TokenKind.VariableBegin:
                    Next();
                    var value = ParseTuple();
                    Expect(TokenKind.VariableEnd, "'}}' to end the expression");
                    body.Add(new OutputStatement(token.Position, value));
                    break;
                case TokenKind.BlockBegin:
                    Next();
                    if (Current.Kind != TokenKind.Name)
                        throw Error(Current.Position, $"expected a tag name after '{{%', got {Current.Describe()}");
                    if (endTags is not null && endTags.Contains(Current.Value))
                        return body;
                    body.Add(Nested(ParseStatement));
                    break;
                case TokenKind.EndOfTemplate:
                    if (endTags is not null)
                    {
                        var (tag, position, expected) = _openBlocks.Peek();
                        throw Error(position, $"unclosed '{tag}' block: expected {Describe(expected)} before the end of the template");
                    }
                    return body;
                default:
                    throw Error(token.Position, $"unexpected {token.Describe()}");
            }
        }
    }

    private static string Describe(string[] tags) => string.Join(" or ", tags.Select(t => $"'{t}'"));

    private Statement ParseStatement()
    {
        var tag = Current;
        switch (tag.Value)
        {
            case "for":
                return ParseFor();
            case "if":
                return ParseIf();
            case "set":
                return ParseSet();
            case "macro":
                return ParseMacro();
            case "break" or "continue":
                if (_loopDepth == 0)
                    throw Error(tag.Position, $"'{tag.Value}' is only allowed inside a for loop");
                Next();
                ExpectBlockEnd();
                return new LoopControlStatement(tag.Position, tag.Value == "break" ? Flow.Break : Flow.Continue);
            case "generation":
                // Hugging Face's AssistantTracker tag: marks assistant text; renders its body unchanged.
                Next();
                ExpectBlockEnd();
                var body = ParseBody(tag, "endgeneration");
                return new SequenceStatement(tag.Position, body);
        }
        if (UnsupportedTags.Contains(tag.Value))
            throw Error(tag.Position, $"the '{tag.Value}' tag is not supported (supported tags: if, for, set, macro, break, continue, generation, raw)");
        if (tag.Value.StartsWith("end", StringComparison.Ordinal) || tag.Value is "elif" or "else")
        {
            if (_openBlocks.Count == 0)
                throw Error(tag.Position, $"unexpected '{tag.Value}': no block is open");
            var (open, position, expected) = _openBlocks.Peek();
            throw Error(tag.Position, $"unexpected '{tag.Value}': the innermost open block is '{open}' (opened at {position}), which expects {Describe(expected)}");
        }
        throw Error(tag.Position, $"unknown tag '{tag.Value}'");
    }

    /// <summary>Parses a block body up to its single end tag, and consumes that tag.</summary>
    private List<Statement> ParseBody(Token opening, string endTag)
    {
        _openBlocks.Push((opening.Value, opening.Position, [endTag]));
        var body = Subparse([endTag]);
        Next();
        ExpectBlockEnd();
        _openBlocks.Pop();
        return body;
    }

    private Statement ParseFor()
    {
        var opening = Next();
        var target = ParseAssignTarget(extraEndRules: ["in"]);
        ExpectName("in");
        var iterable = ParseTuple(withCondition: false, extraEndRules: ["recursive"]);
        Expr? filter = null;
        if (Current.IsName("if"))
        {
            Next();
            filter = ParseExpression();
        }
        if (Current.IsName("recursive"))
            throw Error(Current.Position, "recursive for loops are not supported");
        ExpectBlockEnd();

        _openBlocks.Push(("for", opening.Position, ["endfor", "else"]));
        _loopDepth++;
        var body = Subparse(["endfor", "else"]);
        _loopDepth--;
        List<Statement>? otherwise = null;
        if (Current.IsName("else"))
        {
            Next();
            ExpectBlockEnd();
            _openBlocks.Pop();
            _openBlocks.Push(("for", opening.Position, ["endfor"]));
            otherwise = Subparse(["endfor"]);
        }
        Next();
        ExpectBlockEnd();
        _openBlocks.Pop();
        return new ForStatement(opening.Position, target, iterable, filter, body, otherwise);
    }

    private Statement ParseIf()
    {
        var opening = Next();
        var branches = new List<(Expr, IReadOnlyList<Statement>)>();
        List<Statement>? otherwise = null;
        var test = ParseTuple(withCondition: false);
        ExpectBlockEnd();
        _openBlocks.Push(("if", opening.Position, ["elif", "else", "endif"]));
        while (true)
        {
            branches.Add((test, Subparse(["elif", "else", "endif"])));
            if (Current.IsName("elif"))
            {
                Next();
                test = ParseTuple(withCondition: false);
                ExpectBlockEnd();
                continue;
            }
            if (Current.IsName("else"))
            {
                Next();
                ExpectBlockEnd();
                _openBlocks.Pop();
                _openBlocks.Push(("if", opening.Position, ["endif"]));
                otherwise = Subparse(["endif"]);
            }
            break;
        }
        Next();
        ExpectBlockEnd();
        _openBlocks.Pop();
        return new IfStatement(opening.Position, branches, otherwise);
    }

    private Statement ParseSet()
    {
        var opening = Next();
        var target = ParseAssignTarget(withNamespace: true);
        if (Current.IsOperator("="))
        {
            Next();
            var value = ParseTuple();
            ExpectBlockEnd();
            return new SetStatement(opening.Position, target, value);
        }
        if (Current.IsOperator("|"))
            throw Error(Current.Position, "filters on a block set ({% set x | filter %}) are not supported");
        ExpectBlockEnd();
        return new SetBlockStatement(opening.Position, target, ParseBody(opening, "endset"));
    }

    private Statement ParseMacro()
    {
        var opening = Next();
        var name = Expect(TokenKind.Name, "a macro name");
        ExpectOperator("(");
        var parameters = new List<MacroParameter>();
        while (!Current.IsOperator(")"))
        {
            if (parameters.Count > 0)
                ExpectOperator(",");
            var parameter = Expect(TokenKind.Name, "a parameter name");
            Expr? fallback = null;
            if (Current.IsOperator("="))
            {
                Next();
                fallback = ParseExpression();
            }
            else if (parameters.Any(p => p.Default is not null))
            {
                throw Error(parameter.Position, "non-default argument follows default argument");
            }
            parameters.Add(new MacroParameter(parameter.Value, fallback));
        }
        Next();
        ExpectBlockEnd();
        _macroNames.Add(name.Value);
        var outerLoopDepth = _loopDepth;
        _loopDepth = 0;
        var body = ParseBody(opening, "endmacro");
        _loopDepth = outerLoopDepth;
        return new MacroStatement(opening.Position, new MacroDefinition(name.Value, parameters, body));
    }

    private AssignTarget ParseAssignTarget(string[]? extraEndRules = null, bool withNamespace = false)
    {
        if (withNamespace && Current.Kind == TokenKind.Name && Peek(1).IsOperator("."))
        {
            var ns = Next();
            Next();
            var attribute = Expect(TokenKind.Name, "an attribute name");
            return new NamespaceTarget(attribute.Position, ns.Value, attribute.Value);
        }
        return ToAssignTarget(ParseTuple(simplified: true, extraEndRules: extraEndRules));
    }

    private AssignTarget ToAssignTarget(Expr expr) => expr switch
    {
        NameExpr name => new NameTarget(name.Position, name.Name),
        TupleExpr tuple => new TupleTarget(tuple.Position, tuple.Items.Select(ToAssignTarget).ToList()),
        _ => throw Error(expr.Position, "can only assign to a name, a tuple of names, or namespace.attribute"),
    };

    /// <summary>After all macros are known: every <c>name(...)</c> must call a macro or a known global function.</summary>
    private void ValidateNamedCalls()
    {
        foreach (var (name, position, arguments, global) in _namedCalls)
        {
            if (_macroNames.Contains(name))
                continue;
            if (global is null)
            {
                throw Error(position,
                    $"unknown function '{name}': only range, dict, namespace, raise_exception, strftime_now and macros defined in the template can be called");
            }
            var problem = global.Signature.Check(name, arguments.Positional.Count, arguments.Names);
            if (problem is not null)
                throw Error(position, problem);
        }
    }
}
