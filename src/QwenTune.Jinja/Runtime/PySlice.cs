namespace QwenTune.Jinja.Runtime;

/// <summary>The value of <c>[start:stop:step]</c>, resolved against a length as Python's <c>slice.indices</c> does.</summary>
internal sealed record PySlice(object? Start, object? Stop, object? Step)
{
    public (int Start, int Stop, int Step, int Count) Resolve(int length)
    {
        var step = (int)Math.Clamp(Bound(Step, 1), -int.MaxValue, int.MaxValue);
        if (step == 0)
            throw new JinjaError("slice step cannot be zero");
        int start, stop;
        if (step > 0)
        {
            start = Clamp(Bound(Start, 0), length, 0, length);
            stop = Clamp(Bound(Stop, length), length, 0, length);
        }
        else
        {
            start = Clamp(Bound(Start, length - 1), length, -1, length - 1);
            stop = Clamp(Bound(Stop, -1 - length), length, -1, length - 1);
        }
        var count = step > 0
            ? (stop > start ? (stop - start + step - 1) / step : 0)
            : (start > stop ? (start - stop - step - 1) / -step : 0);
        return (start, stop, step, count);
    }

    private static int Clamp(long index, int length, int low, int high)
    {
        if (index < 0)
            index += length;
        return (int)Math.Clamp(index, low, high);
    }

    private static long Bound(object? value, long fallback) => value switch
    {
        null or Undefined => fallback,
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new JinjaError("slice indices must be integers or None"),
    };
}
