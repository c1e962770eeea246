using System.Globalization;
using System.Text;

namespace QwenTune.Jinja.Runtime;

/// <summary>
/// Python's <c>datetime.strftime</c> in the C locale for the directives chat templates use
/// (Llama 3.x writes <c>strftime_now("%d %b %Y")</c>), including glibc's <c>%-d</c> no-padding form.
/// </summary>
internal static class Strftime
{
    public static string Format(DateTime time, string format)
    {
        var culture = CultureInfo.InvariantCulture;
        var builder = new StringBuilder();
        for (var i = 0; i < format.Length; i++)
        {
            if (format[i] != '%' || i + 1 >= format.Length)
            {
                builder.Append(format[i]);
                continue;
            }
            var unpadded = format[i + 1] == '-' && i + 2 < format.Length;
            var directive = format[unpadded ? i + 2 : i + 1];
            i += unpadded ? 2 : 1;
            string Number(int value, int width) =>
                unpadded ? value.ToString(culture) : value.ToString(new string('0', width), culture);
            builder.Append(directive switch
            {
                'a' => time.ToString("ddd", culture),
                'A' => time.ToString("dddd", culture),
                'b' or 'h' => time.ToString("MMM", culture),
                'B' => time.ToString("MMMM", culture),
                'd' => Number(time.Day, 2),
                'e' => time.Day.ToString(culture).PadLeft(unpadded ? 0 : 2),
                'm' => Number(time.Month, 2),
                'y' => Number(time.Year % 100, 2),
                'Y' => time.Year.ToString(culture),
                'H' => Number(time.Hour, 2),
                'I' => Number(time.Hour % 12 == 0 ? 12 : time.Hour % 12, 2),
                'M' => Number(time.Minute, 2),
                'S' => Number(time.Second, 2),
                'p' => time.Hour < 12 ? "AM" : "PM",
                'j' => Number(time.DayOfYear, 3),
                'f' => (time.Ticks % TimeSpan.TicksPerSecond / 10).ToString("000000", culture),
                'w' => ((int)time.DayOfWeek).ToString(culture),
                'u' => (time.DayOfWeek == DayOfWeek.Sunday ? 7 : (int)time.DayOfWeek).ToString(culture),
                'F' => time.ToString("yyyy-MM-dd", culture),
                'T' => time.ToString("HH:mm:ss", culture),
                'D' or 'x' => time.ToString("MM/dd/yy", culture),
                'X' => time.ToString("HH:mm:ss", culture),
                'c' => $"{time.ToString("ddd MMM", culture)} {time.Day,2} {time.ToString("HH:mm:ss yyyy", culture)}",
                'Z' or 'z' => "", // datetime.now() is naive: no zone
                '%' => "%",
                _ => throw new JinjaError($"strftime directive '%{directive}' is not supported"),
            });
        }
        return builder.ToString();
    }
}
