using System.Globalization;

namespace QwenTune.Jinja.Runtime;

/// <summary>Python's <c>repr(float)</c>: the shortest round-trip digits, laid out as CPython's float_repr does.</summary>
internal static class PyFloat
{
    public static string Repr(double value)
    {
        if (double.IsNaN(value))
            return "nan";
        if (double.IsInfinity(value))
            return value > 0 ? "inf" : "-inf";
        if (value == 0)
            return double.IsNegative(value) ? "-0.0" : "0.0";

        // .NET's "R" yields the same shortest round-trip digits as Python; only the layout differs.
        var text = Math.Abs(value).ToString("R", CultureInfo.InvariantCulture);
        var exponent = 0;
        var e = text.IndexOfAny(['E', 'e']);
        if (e >= 0)
        {
            exponent = int.Parse(text.AsSpan(e + 1), NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture);
            text = text[..e];
        }
        var dot = text.IndexOf('.');
        var integerDigits = dot < 0 ? text.Length : dot;
        var digits = dot < 0 ? text : text.Remove(dot, 1);
        var leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits.Trim('0');
        // decimalPoint: the position of the decimal point relative to the first significant digit.
        var decimalPoint = integerDigits - leadingZeros + exponent;

        var sign = value < 0 ? "-" : "";
        // CPython switches to exponent notation when decpt <= -4 or decpt > 16 (repr mode 'r').
        if (decimalPoint is > -4 and <= 16)
        {
            if (decimalPoint <= 0)
                return $"{sign}0.{new string('0', -decimalPoint)}{digits}";
            if (decimalPoint >= digits.Length)
                return $"{sign}{digits}{new string('0', decimalPoint - digits.Length)}.0";
            return $"{sign}{digits[..decimalPoint]}.{digits[decimalPoint..]}";
        }
        var mantissa = digits.Length == 1 ? digits : $"{digits[0]}.{digits[1..]}";
        var exp = decimalPoint - 1;
        return $"{sign}{mantissa}e{(exp < 0 ? '-' : '+')}{Math.Abs(exp):00}";
    }
}
