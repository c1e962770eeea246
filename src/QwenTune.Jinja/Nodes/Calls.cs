using QwenTune.Jinja.Library;
using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Nodes;

/// <summary>
/// <c>callee(args)</c>: a macro, a method of a value (<c>s.split(',')</c>), or a global function
/// (<c>namespace</c>, <c>range</c>, <c>raise_exception</c>, ...). Variables shadow globals, as in Jinja.
/// </summary>
internal sealed class CallExpr(SourcePosition position, Expr callee, CallSite arguments) : Expr(position)
{
    public override object? Evaluate(Frame frame)
    {
        using var depth = Enter(frame);
        var target = callee.Evaluate(frame);
        var values = arguments.Evaluate(frame);
        frame.Context.Position = Position;
        return target switch
        {
            Macro macro => macro.Invoke(frame.Context, values),
            BoundMethod method => Methods.Invoke(method, values),
            GlobalFunction function => function.Invoke(frame.Context, values.Bind(function.Name, function.Signature)),
            Undefined undefined => throw undefined.Fail(),
            _ => throw new JinjaError($"'{Py.TypeName(target)}' object is not callable"),
        };
    }
}

/// <summary><c>value | name(args)</c>.</summary>
internal sealed class FilterExpr(SourcePosition position, Expr value, FilterDefinition filter, CallSite arguments) : Expr(position)
{
    public override object? Evaluate(Frame frame)
    {
        using var depth = Enter(frame);
        var input = value.Evaluate(frame);
        var values = arguments.Evaluate(frame);
        frame.Context.Position = Position;
        return filter.Invoke(frame.Context, input, values.Bind(filter.Name, filter.Signature));
    }
}

/// <summary><c>value is [not] name(args)</c>.</summary>
internal sealed class TestExpr(SourcePosition position, Expr value, TestDefinition test, CallSite arguments, bool negated) : Expr(position)
{
    public override object? Evaluate(Frame frame)
    {
        using var depth = Enter(frame);
        var input = value.Evaluate(frame);
        var values = arguments.Evaluate(frame);
        frame.Context.Position = Position;
        return test.Invoke(input, values.Bind(test.Name, test.Signature)) != negated;
    }
}
