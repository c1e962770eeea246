using QwenTune.Jinja.Lexing;
using QwenTune.Jinja.Library;
using QwenTune.Jinja.Nodes;

namespace QwenTune.Jinja.Parsing;

internal sealed partial class Parser
{
    private static readonly HashSet<string> ComparisonOperators = ["==", "!=", "<", ">", "<=", ">="];

    // Filters whose first string argument names another filter or test, checked here like a direct use.
    private static readonly HashSet<string> FiltersNamingTests = ["select", "reject"];
    private static readonly HashSet<string> FiltersNamingTestsAfterAttribute = ["selectattr", "rejectattr"];

    /// <summary>jinja2 parse_tuple: one expression, or a tuple when commas follow.</summary>
    private Expr ParseTuple(bool simplified = false, bool withCondition = true, string[]? extraEndRules = null, bool explicitParentheses = false)
    {
        var start = Current.Position;
        var items = new List<Expr>();
        var isTuple = false;
        while (true)
        {
            if (items.Count > 0)
                ExpectOperator(",");
            if (IsTupleEnd(extraEndRules))
                break;
            items.Add(simplified ? ParsePrimary() : ParseExpression(withCondition));
            if (Current.IsOperator(","))
                isTuple = true;
            else
                break;
        }
        if (!isTuple)
        {
            if (items.Count > 0)
                return items[0];
            if (!explicitParentheses)
                throw Error(Current.Position, $"expected an expression, got {Current.Describe()}");
        }
        return new TupleExpr(start, items);
    }

    private bool IsTupleEnd(string[]? extraEndRules) =>
        Current.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd or TokenKind.EndOfTemplate
        || Current.IsOperator(")")
        || (extraEndRules is not null && Current.Kind == TokenKind.Name && extraEndRules.Contains(Current.Value));

    private Expr ParseExpression(bool withCondition = true) =>
        Nested(() => withCondition ? ParseConditional() : ParseOr());

    private Expr ParseConditional()
    {
        var start = Current.Position;
        var expr = ParseOr();
        while (Current.IsName("if"))
        {
            Next();
            var test = ParseOr();
            Expr? otherwise = null;
            if (Current.IsName("else"))
            {
                Next();
                otherwise = ParseConditional();
            }
            expr = new ConditionalExpr(start, test, expr, otherwise);
        }
        return expr;
    }

    private Expr ParseOr()
    {
        var left = ParseAnd();
        while (Current.IsName("or"))
        {
            var op = Next();
            left = new OrExpr(op.Position, left, ParseAnd());
        }
        return left;
    }

    private Expr ParseAnd()
    {
        var left = ParseNot();
        while (Current.IsName("and"))
        {
            var op = Next();
            left = new AndExpr(op.Position, left, ParseNot());
        }
        return left;
    }

    private Expr ParseNot()
    {
        if (!Current.IsName("not"))
            return ParseCompare();
        var op = Next();
        return new NotExpr(op.Position, Nested(ParseNot));
    }

    private Expr ParseCompare()
    {
        var first = ParseMath1();
        var rest = new List<(string, Expr, SourcePosition)>();
        while (true)
        {
            var token = Current;
            if (token.Kind == TokenKind.Operator && ComparisonOperators.Contains(token.Value))
            {
                Next();
                rest.Add((token.Value, ParseMath1(), token.Position));
            }
            else if (token.IsName("in"))
            {
                Next();
                rest.Add(("in", ParseMath1(), token.Position));
            }
            else if (token.IsName("not") && Peek(1).IsName("in"))
            {
                Next();
                Next();
                rest.Add(("notin", ParseMath1(), token.Position));
            }
            else
            {
                break;
            }
        }
        return rest.Count == 0 ? first : new CompareExpr(first.Position, first, rest);
    }

    private Expr ParseMath1()
    {
        var left = ParseConcat();
        while (Current.IsOperator("+") || Current.IsOperator("-"))
        {
            var op = Next();
            left = new BinaryExpr(op.Position, op.Value == "+" ? BinaryOperator.Add : BinaryOperator.Subtract, left, ParseConcat());
        }
        return left;
    }

    private Expr ParseConcat()
    {
        var first = ParseMath2();
        if (!Current.IsOperator("~"))
            return first;
        var parts = new List<Expr> { first };
        while (Current.IsOperator("~"))
        {
            Next();
            parts.Add(ParseMath2());
        }
        return new ConcatExpr(first.Position, parts);
    }

    private Expr ParseMath2()
    {
        var left = ParsePow();
        while (Current.Kind == TokenKind.Operator && Current.Value is "*" or "/" or "//" or "%")
        {
            var op = Next();
            var kind = op.Value switch
            {
                "*" => BinaryOperator.Multiply,
                "/" => BinaryOperator.Divide,
                "//" => BinaryOperator.FloorDivide,
                _ => BinaryOperator.Modulo,
            };
            left = new BinaryExpr(op.Position, kind, left, ParsePow());
        }
        return left;
    }

    private Expr ParsePow()
    {
        var left = ParseUnary();
        while (Current.IsOperator("**"))
        {
            var op = Next();
            left = new BinaryExpr(op.Position, BinaryOperator.Power, left, ParseUnary());
        }
        return left;
    }

    private Expr ParseUnary(bool withFilter = true)
    {
        var token = Current;
        Expr node;
        if (token.IsOperator("-") || token.IsOperator("+"))
        {
            Next();
            node = new UnaryExpr(token.Position, token.Value == "-", Nested(() => ParseUnary(withFilter: false)));
        }
        else
        {
            node = ParsePrimary();
        }
        node = ParsePostfix(node);
        return withFilter ? ParseFilterExpression(node) : node;
    }

    private Expr ParsePrimary()
    {
        var token = Current;
        switch (token.Kind)
        {
            case TokenKind.Name:
                Next();
                return token.Value switch
                {
                    "true" or "True" => new ConstantExpr(token.Position, true),
                    "false" or "False" => new ConstantExpr(token.Position, false),
                    "none" or "None" => new ConstantExpr(token.Position, null),
                    _ => new NameExpr(token.Position, token.Value),
                };
            case TokenKind.String:
                // Adjacent string literals concatenate, as in Python.
                var text = Next().Value;
                while (Current.Kind == TokenKind.String)
                    text += Next().Value;
                return new ConstantExpr(token.Position, text);
            case TokenKind.Integer or TokenKind.Float:
                Next();
                return new ConstantExpr(token.Position, token.Literal);
            case TokenKind.Operator when token.Value == "(":
                Next();
                var inner = ParseTuple(explicitParentheses: true);
                ExpectOperator(")");
                return inner;
            case TokenKind.Operator when token.Value == "[":
                return ParseList();
            case TokenKind.Operator when token.Value == "{":
                return ParseDict();
            default:
                throw Error(token.Position, $"unexpected {token.Describe()}");
        }
    }

    private Expr ParseList()
    {
        var open = Next();
        var items = new List<Expr>();
        while (!Current.IsOperator("]"))
        {
            if (items.Count > 0)
                ExpectOperator(",");
            if (Current.IsOperator("]"))
                break;
            items.Add(ParseExpression());
        }
        Next();
        return new ListExpr(open.Position, items);
    }

    private Expr ParseDict()
    {
        var open = Next();
        var entries = new List<(Expr, Expr)>();
        while (!Current.IsOperator("}"))
        {
            if (entries.Count > 0)
                ExpectOperator(",");
            if (Current.IsOperator("}"))
                break;
            var key = ParseExpression();
            if (key is ConstantExpr { Value: not string })
                throw Error(key.Position, "dictionary keys must be strings");
            ExpectOperator(":");
            entries.Add((key, ParseExpression()));
        }
        Next();
        return new DictExpr(open.Position, entries);
    }

    private Expr ParsePostfix(Expr node)
    {
        while (true)
        {
            if (Current.IsOperator(".") || Current.IsOperator("["))
                node = ParseSubscript(node);
            else if (Current.IsOperator("("))
                node = ParseCall(node);
            else
                return node;
        }
    }

    private Expr ParseFilterExpression(Expr node)
    {
        while (true)
        {
            if (Current.IsOperator("|"))
                node = ParseFilter(node);
            else if (Current.IsName("is"))
                node = ParseTest(node);
            else if (Current.IsOperator("("))
                node = ParseCall(node);
            else
                return node;
        }
    }

    private Expr ParseSubscript(Expr node)
    {
        var token = Next();
        if (token.Value == ".")
        {
            var attribute = Current;
            if (attribute.Kind == TokenKind.Name)
            {
                Next();
                return new AttributeExpr(attribute.Position, node, attribute.Value);
            }
            if (attribute.Kind == TokenKind.Integer)
            {
                Next();
                return new ItemExpr(attribute.Position, node, new ConstantExpr(attribute.Position, attribute.Literal));
            }
            throw Error(attribute.Position, $"expected an attribute name after '.', got {attribute.Describe()}");
        }
        var keys = new List<Expr>();
        while (!Current.IsOperator("]"))
        {
            if (keys.Count > 0)
                ExpectOperator(",");
            keys.Add(ParseSubscribed());
        }
        Next();
        var key = keys.Count == 1 ? keys[0] : new TupleExpr(token.Position, keys);
        return new ItemExpr(token.Position, node, key);
    }

    /// <summary>An index or a slice <c>start:stop:step</c> with any part omitted.</summary>
    private Expr ParseSubscribed()
    {
        var start = Current.Position;
        Expr? from = null;
        if (Current.IsOperator(":"))
        {
            Next();
        }
        else
        {
            var index = ParseExpression();
            if (!Current.IsOperator(":"))
                return index;
            Next();
            from = index;
        }
        Expr? to = null;
        Expr? step = null;
        if (!Current.IsOperator(":") && !Current.IsOperator("]") && !Current.IsOperator(","))
            to = ParseExpression();
        if (Current.IsOperator(":"))
        {
            Next();
            if (!Current.IsOperator("]") && !Current.IsOperator(","))
                step = ParseExpression();
        }
        return new SliceExpr(start, from, to, step);
    }

    private CallSite ParseCallArguments()
    {
        ExpectOperator("(");
        var positional = new List<Expr>();
        var names = new List<string>();
        var values = new List<Expr>();
        while (!Current.IsOperator(")"))
        {
            if (positional.Count + names.Count > 0)
            {
                ExpectOperator(",");
                if (Current.IsOperator(")"))
                    break;
            }
            if (Current.IsOperator("*") || Current.IsOperator("**"))
                throw Error(Current.Position, "*args and **kwargs in calls are not supported");
            if (Current.Kind == TokenKind.Name && Peek(1).IsOperator("="))
            {
                var name = Next();
                Next();
                if (names.Contains(name.Value))
                    throw Error(name.Position, $"keyword argument '{name.Value}' repeated");
                names.Add(name.Value);
                values.Add(ParseExpression());
            }
            else
            {
                if (names.Count > 0)
                    throw Error(Current.Position, "positional argument follows keyword argument");
                positional.Add(ParseExpression());
            }
        }
        Next();
        return new CallSite(positional, names, values);
    }

    private Expr ParseCall(Expr callee)
    {
        var arguments = ParseCallArguments();
        GlobalFunction? global = null;
        switch (callee)
        {
            case NameExpr name:
                Globals.TryGet(name.Name, out global);
                _namedCalls.Add((name.Name, name.Position, arguments, global));
                break;
            case AttributeExpr attribute when !Methods.IsKnownName(attribute.Name):
                throw Error(attribute.Position, $"unknown method '{attribute.Name}': no supported str, dict or list method has this name");
        }
        return new CallExpr(callee.Position, callee, arguments);
    }

    private string ParseDottedName(string what)
    {
        var name = Expect(TokenKind.Name, what).Value;
        while (Current.IsOperator("."))
        {
            Next();
            name += "." + Expect(TokenKind.Name, what).Value;
        }
        return name;
    }

    private Expr ParseFilter(Expr value)
    {
        Next();
        var nameToken = Current;
        var name = ParseDottedName("a filter name");
        if (!Filters.TryGet(name, out var filter))
            throw Error(nameToken.Position, $"unknown filter '{name}'");
        var arguments = Current.IsOperator("(") ? ParseCallArguments() : CallSite.Empty;
        var problem = filter.Signature.Check(name, arguments.Positional.Count, arguments.Names);
        if (problem is not null)
            throw Error(nameToken.Position, problem);
        CheckNamedCallable(name, arguments);
        return new FilterExpr(nameToken.Position, value, filter, arguments);
    }

    /// <summary><c>map('upper')</c>, <c>select('odd')</c>, <c>selectattr('x', 'eq', 1)</c>: a literal filter or test name must exist.</summary>
    private void CheckNamedCallable(string filter, CallSite arguments)
    {
        var index = FiltersNamingTests.Contains(filter) ? 0 : FiltersNamingTestsAfterAttribute.Contains(filter) ? 1 : filter == "map" ? 0 : -1;
        if (index < 0 || arguments.Positional.Count <= index || arguments.Positional[index] is not ConstantExpr { Value: string name } literal)
            return;
        if (filter == "map" ? !Filters.TryGet(name, out _) : !Tests.TryGet(name, out _))
            throw Error(literal.Position, $"unknown {(filter == "map" ? "filter" : "test")} '{name}'");
    }

    private Expr ParseTest(Expr value)
    {
        Next();
        var negated = false;
        if (Current.IsName("not"))
        {
            Next();
            negated = true;
        }
        var nameToken = Current;
        var name = ParseDottedName("a test name");
        if (!Tests.TryGet(name, out var test))
            throw Error(nameToken.Position, $"unknown test '{name}'");
        CallSite arguments;
        if (Current.IsOperator("("))
        {
            arguments = ParseCallArguments();
        }
        else if ((Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
                  || Current.IsOperator("[") || Current.IsOperator("{"))
                 && !Current.IsName("else") && !Current.IsName("or") && !Current.IsName("and"))
        {
            if (Current.IsName("is"))
                throw Error(Current.Position, "you cannot chain multiple tests with 'is'");
            arguments = new CallSite([ParsePostfix(ParsePrimary())], [], []);
        }
        else
        {
            arguments = CallSite.Empty;
        }
        var problem = test.Signature.Check(name, arguments.Positional.Count, arguments.Names);
        if (problem is not null)
            throw Error(nameToken.Position, problem);
        return new TestExpr(nameToken.Position, value, test, arguments, negated);
    }
}
