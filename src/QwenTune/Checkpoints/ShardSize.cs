using System.Globalization;

namespace QwenTune.Checkpoints;

/// <summary>
/// Parses shard sizes the way transformers' <c>convert_file_size_to_int</c> does: a plain byte count, or an integer
/// with a unit. KB/MB/GB/TB are powers of 1000, KiB/MiB/GiB/TiB powers of 1024 (case-insensitive); as in transformers,
/// a decimal unit ending in a lower-case "b" ("5Gb") means bits and is divided by 8.
/// </summary>
public static class ShardSize
{
    /// <summary>transformers' default <c>max_shard_size</c>.</summary>
    public const long Default = 5_000_000_000;

    private static readonly (string Unit, long Factor)[] Units =
    [
        ("TIB", 1L << 40), ("GIB", 1L << 30), ("MIB", 1L << 20), ("KIB", 1L << 10),
        ("TB", 1_000_000_000_000), ("GB", 1_000_000_000), ("MB", 1_000_000), ("KB", 1_000),
    ];

    public static long Parse(string text)
    {
        var trimmed = text.Trim();
        if (long.TryParse(trimmed, NumberStyles.None, CultureInfo.InvariantCulture, out var bytes) && bytes > 0)
            return bytes;
        foreach (var (unit, factor) in Units)
        {
            if (!trimmed.EndsWith(unit, StringComparison.OrdinalIgnoreCase))
                continue;
            var number = trimmed[..^unit.Length].Trim();
            if (!long.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out var count) || count <= 0)
                break;
            var size = checked(count * factor);
            var isBits = unit.Length == 2 && trimmed.EndsWith('b');
            return isBits ? size / 8 : size;
        }
        throw new QwenTuneException(
            $"Invalid max_shard_size '{text}': use a positive byte count or an integer with a unit, e.g. 5GB, 500MB, 2GiB.");
    }
}
