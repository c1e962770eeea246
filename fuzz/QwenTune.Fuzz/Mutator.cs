using System.Text;

namespace QwenTune.Fuzz;

/// <summary>
/// AFL-style havoc mutations over bytes, plus the structure-aware ones text formats need: insert a token of the
/// target's dictionary, splice two corpus entries, swap a number for an extreme one, and repeat a slice many times
/// (deep nesting, long words, huge counts).
/// </summary>
public sealed class Mutator(Random random, IReadOnlyList<string> dictionary)
{
    /// <summary>Inputs stay below this, so a slow or large execution is the code's doing, not the input's size.</summary>
    public const int MaxLength = 256 * 1024;

    private static readonly string[] ExtremeNumbers =
    [
        "0", "-1", "1", "-0", "255", "256", "65535", "65536", "2147483647", "2147483648", "-2147483649",
        "4294967296", "9223372036854775807", "9223372036854775808", "-9223372036854775809",
        "18446744073709551616", "1e308", "1e309", "-1e309", "NaN", "Infinity", "0.5", "1.5e-320", "00", "1e3",
    ];

    private static readonly byte[] InterestingBytes = [0, 1, 0x7F, 0x80, 0xFF, (byte)'"', (byte)'\\', (byte)'{', (byte)'}', (byte)'[', (byte)']', (byte)'\n', 0xC0, 0xED, 0xF4];

    private readonly byte[][] _dictionary = dictionary.Select(Encoding.UTF8.GetBytes).ToArray();

    public byte[] Mutate(byte[] input, IReadOnlyList<byte[]> corpus)
    {
        var data = new List<byte>(input);
        var rounds = 1 << random.Next(4);
        for (var i = 0; i < rounds; i++)
            MutateOnce(data, corpus);
        if (data.Count > MaxLength)
            data.RemoveRange(MaxLength, data.Count - MaxLength);
        return [.. data];
    }

    private void MutateOnce(List<byte> data, IReadOnlyList<byte[]> corpus)
    {
        switch (random.Next(data.Count == 0 ? 2 : 11))
        {
            case 0:
                InsertToken(data);
                break;
            case 1:
                Splice(data, corpus);
                break;
            case 2:
                data[random.Next(data.Count)] ^= (byte)(1 << random.Next(8));
                break;
            case 3:
                data[random.Next(data.Count)] = InterestingBytes[random.Next(InterestingBytes.Length)];
                break;
            case 4:
                data[random.Next(data.Count)] = (byte)random.Next(256);
                break;
            case 5:
            {
                var (start, length) = Slice(data.Count);
                data.RemoveRange(start, length);
                break;
            }
            case 6:
            {
                var (start, length) = Slice(data.Count);
                data.InsertRange(random.Next(data.Count + 1), data.GetRange(start, length));
                break;
            }
            case 7:
                ReplaceNumber(data);
                break;
            case 8:
                RepeatSlice(data);
                break;
            default:
                InsertToken(data);
                break;
        }
    }

    private (int Start, int Length) Slice(int count)
    {
        var start = random.Next(count);
        var maxLength = Math.Min(count - start, random.Next(4) == 0 ? 256 : 16);
        return (start, 1 + random.Next(maxLength));
    }

    private void InsertToken(List<byte> data)
    {
        if (_dictionary.Length == 0)
            return;
        data.InsertRange(random.Next(data.Count + 1), _dictionary[random.Next(_dictionary.Length)]);
    }

    private void Splice(List<byte> data, IReadOnlyList<byte[]> corpus)
    {
        var other = corpus[random.Next(corpus.Count)];
        if (other.Length == 0)
            return;
        var (start, length) = Slice(other.Length);
        data.InsertRange(random.Next(data.Count + 1), other.AsSpan(start, length).ToArray());
    }

    /// <summary>Replaces a run of digits (with sign, dot, exponent) by an extreme number.</summary>
    private void ReplaceNumber(List<byte> data)
    {
        var digits = Enumerable.Range(0, data.Count).Where(i => char.IsAsciiDigit((char)data[i])).ToList();
        if (digits.Count == 0)
        {
            InsertToken(data);
            return;
        }
        var start = digits[random.Next(digits.Count)];
        while (start > 0 && IsNumberByte(data[start - 1]))
            start--;
        var end = start;
        while (end < data.Count && IsNumberByte(data[end]))
            end++;
        data.RemoveRange(start, end - start);
        data.InsertRange(start, Encoding.ASCII.GetBytes(ExtremeNumbers[random.Next(ExtremeNumbers.Length)]));
    }

    private static bool IsNumberByte(byte b) => char.IsAsciiDigit((char)b) || b is (byte)'-' or (byte)'+' or (byte)'.' or (byte)'e' or (byte)'E';

    /// <summary>Repeats a slice 2 to 5,000 times in place: nesting, long runs, many records.</summary>
    private void RepeatSlice(List<byte> data)
    {
        var (start, length) = Slice(data.Count);
        length = Math.Min(length, 64);
        var times = random.Next(3) switch { 0 => 2 + random.Next(8), 1 => 10 + random.Next(200), _ => 200 + random.Next(4800) };
        times = Math.Min(times, MaxLength / length);
        var slice = data.GetRange(start, length).ToArray();
        var repeated = new byte[slice.Length * times];
        for (var i = 0; i < times; i++)
            slice.CopyTo(repeated, i * slice.Length);
        data.InsertRange(start, repeated);
    }
}
