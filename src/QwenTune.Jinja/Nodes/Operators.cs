using System.Text;
using QwenTune.Jinja.Runtime;

namespace QwenTune.Jinja.Nodes;

internal enum BinaryOperator
{
    Add,
    Subtract,
    Multiply,
    Divide,
    FloorDivide,
    Modulo,
    Power,
}

internal sealed class BinaryExpr(SourcePosition position, BinaryOperator op, Expr left, Expr right) : Expr(position)
{
    public override object? Evaluate(Frame frame)
    {
        using var depth = Enter(frame);
        var a = left.Evaluate(frame);
        var b = right.Evaluate(frame);
        frame.Context.Position = Position;
        return op switch
        {
            BinaryOperator.Add => Py.Add(a, b),
            BinaryOperator.Subtract => Py.Subtract(a, b),
            BinaryOperator.Multiply => Py.Multiply(a, b),
            BinaryOperator.Divide => Py.TrueDivide(a, b),
            BinaryOperator.FloorDivide => Py.FloorDivide(a, b),
            BinaryOperator.Modulo => Py.Modulo(a, b),
            _ => Py.Power(a, b),
        };
    }
}

/// <summary><c>-x</c> or <c>+x</c>.</summary>
internal sealed class UnaryExpr(SourcePosition position, bool negate, Expr operand) : Expr(position)
{
    public override object? Evaluate(Frame frame)
    {
        var value = operand.Evaluate(frame);
        frame.Context.Position = Position;
        return negate ? Py.Negate(value) : Py.Plus(value);
    }
}

/// <summary><c>a ~ b ~ c</c>: the <c>str()</c> of each part joined (Undefined contributes nothing).</summary>
internal sealed class ConcatExpr(SourcePosition position, IReadOnlyList<Expr> parts) : Expr(position)
{
    public override object? Evaluate(Frame frame)
    {
        var builder = new StringBuilder();
        foreach (var part in parts)
            builder.Append(Py.Str(part.Evaluate(frame)));
        return builder.ToString();
    }
}

/// <summary>A comparison chain <c>a &lt; b &lt;= c</c>, evaluated like Python (each operand once, stops at the first false).</summary>
internal sealed class CompareExpr(SourcePosition position, Expr first, IReadOnlyList<(string Op, Expr Operand, SourcePosition Position)> rest)
    : Expr(position)
{
    public override object? Evaluate(Frame frame)
    {
        var left = first.Evaluate(frame);
        foreach (var (op, operand, position) in rest)
        {
            var right = operand.Evaluate(frame);
            frame.Context.Position = position;
            var holds = op switch
            {
                "==" => Py.Equal(left, right),
                "!=" => !Py.Equal(left, right),
                "in" => Py.Contains(right, left),
                "notin" => !Py.Contains(right, left),
                _ => Py.Compare(op, left, right),
            };
            if (!holds)
                return false;
            left = right;
        }
        return true;
    }
}

internal sealed class NotExpr(SourcePosition position, Expr operand) : Expr(position)
{
    public override object? Evaluate(Frame frame) => !Py.IsTruthy(operand.Evaluate(frame));
}

/// <summary><c>a and b</c>: returns an operand, as Python does.</summary>
internal sealed class AndExpr(SourcePosition position, Expr left, Expr right) : Expr(position)
{
    public override object? Evaluate(Frame frame)
    {
        using var depth = Enter(frame);
        var a = left.Evaluate(frame);
        return Py.IsTruthy(a) ? right.Evaluate(frame) : a;
    }
}

/// <summary><c>a or b</c>: returns an operand, as Python does.</summary>
internal sealed class OrExpr(SourcePosition position, Expr left, Expr right) : Expr(position)
{
    public override object? Evaluate(Frame frame)
    {
        using var depth = Enter(frame);
        var a = left.Evaluate(frame);
        return Py.IsTruthy(a) ? a : right.Evaluate(frame);
    }
}

/// <summary><c>a if test else b</c>; without <c>else</c> the false branch is Undefined.</summary>
internal sealed class ConditionalExpr(SourcePosition position, Expr test, Expr whenTrue, Expr? whenFalse) : Expr(position)
{
    public override object? Evaluate(Frame frame)
    {
        if (Py.IsTruthy(test.Evaluate(frame)))
            return whenTrue.Evaluate(frame);
        return whenFalse is null ? Undefined.WithHint("the inline if-expression evaluated to false and no else section was defined") : whenFalse.Evaluate(frame);
    }
}
