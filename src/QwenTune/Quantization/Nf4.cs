using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Quantization;

/// <summary>
/// The 4-bit NormalFloat data type of QLoRA (Dettmers et al. 2023, arXiv:2305.14314) as bitsandbytes stores it,
/// and the 8-bit "dynamic" map bitsandbytes uses to double-quantise the per-block absmax constants.
/// </summary>
/// <remarks>
/// Both maps are sorted ascending, so a 4-bit (or 8-bit) code is an index into the map and the nearest code is
/// found by bucketing against the midpoints between neighbours. Ties (a value exactly on a midpoint) go to the
/// lower code, as bitsandbytes' <c>dQuantizeNF4</c> decision tree does (it tests <c>x &gt; midpoint</c>).
/// </remarks>
public static class Nf4
{
    /// <summary>Consecutive values (flattened row-major) that share one absmax constant; QLoRA's choice.</summary>
    public const int DefaultBlockSize = 64;

    /// <summary>Absmax constants that share one second-level constant under double quantisation; QLoRA's choice.</summary>
    public const int DefaultAbsmaxBlockSize = 256;

    // bitsandbytes' NF4 table (functional.py get_4bit_type("nf4")), i.e. create_normal_map(offset=0.9677083):
    // N(0,1) quantiles, 8 positive and 7 negative, plus an exact zero, normalised to [-1, 1].
    private static readonly double[] CodeValues =
    [
        -1.0, -0.6961928009986877, -0.5250730514526367, -0.39491748809814453,
        -0.28444138169288635, -0.18477343022823334, -0.09105003625154495, 0.0,
        0.07958029955625534, 0.16093020141124725, 0.24611230194568634, 0.33791524171829224,
        0.44070982933044434, 0.5626170039176941, 0.7229568362236023, 1.0,
    ];

    /// <summary>The 16 NF4 values, ascending; a packed 4-bit code is an index into this table.</summary>
    public static IReadOnlyList<float> Codes { get; } = Array.AsReadOnly(CodeValues.Select(v => (float)v).ToArray());

    /// <summary>
    /// bitsandbytes' signed 8-bit dynamic map (<c>create_dynamic_map(signed=True)</c>, the default code of
    /// <c>quantize_blockwise</c> and therefore of its nested absmax quantisation), ascending: zero, one, and for each
    /// decade 10^-6 .. 10^0 the midpoints of an evenly spaced grid on [0.1, 1] times the decade, with twice as many
    /// points per decade as the one below, mirrored for negative values. 256 distinct values in [-0.993, 1].
    /// </summary>
    public static IReadOnlyList<float> DynamicMap { get; } = Array.AsReadOnly(CreateDynamicMap());

    // Built with libtorch's own fp32 linspace and arithmetic so the values equal bitsandbytes' float32 tensor.
    private static float[] CreateDynamicMap()
    {
        const int exponentBits = 7;
        var values = new List<float> { 0f, 1f };
        using var scope = NewDisposeScope();
        for (var decade = 0; decade < exponentBits; decade++)
        {
            var boundaries = linspace(0.1, 1.0, (1 << decade) + 1, dtype: ScalarType.Float32);
            var count = boundaries.shape[0];
            var means = (boundaries.narrow(0, 0, count - 1) + boundaries.narrow(0, 1, count - 1)) / 2.0;
            var scale = Math.Pow(10, decade - (exponentBits - 1));
            values.AddRange((means * scale).data<float>().ToArray());
            values.AddRange((means * -scale).data<float>().ToArray());
        }
        values.Sort();
        return values.ToArray();
    }

    /// <summary>The largest distance between adjacent NF4 values: 0.3038, from -1 to -0.6962 (the negative half has one code fewer).</summary>
    internal static double LargestCodeGap => LargestGap(Codes);

    internal static double LargestGap(IReadOnlyList<float> sortedCodes)
    {
        var gap = 0.0;
        for (var i = 1; i < sortedCodes.Count; i++)
            gap = Math.Max(gap, (double)sortedCodes[i] - sortedCodes[i - 1]);
        return gap;
    }

    /// <summary>Per-device lookup tables, built once; they are constants of the format, not per-weight storage.</summary>
    internal sealed class Tables
    {
        /// <summary>The 15 NF4 decision boundaries, fp32.</summary>
        public required Tensor CodeMidpoints { get; init; }

        /// <summary>(256, 2) fp32: row b holds the NF4 values of byte b's high and low nibble.</summary>
        public required Tensor BytePairs { get; init; }

        /// <summary>The 256 values of the dynamic map, fp32.</summary>
        public required Tensor DynamicMap { get; init; }

        /// <summary>The 255 decision boundaries of the dynamic map, fp32.</summary>
        public required Tensor DynamicMidpoints { get; init; }
    }

    private static readonly Dictionary<string, Tables> TablesByDevice = new(StringComparer.Ordinal);

    internal static Tables TablesOn(Device device)
    {
        var key = device.ToString();
        lock (TablesByDevice)
        {
            if (!TablesByDevice.TryGetValue(key, out var tables))
            {
                var pairs = new float[256 * 2];
                for (var b = 0; b < 256; b++)
                {
                    pairs[2 * b] = Codes[b >> 4];
                    pairs[2 * b + 1] = Codes[b & 15];
                }
                tables = new Tables
                {
                    CodeMidpoints = Upload(Midpoints(CodeValues), [15], device),
                    BytePairs = Upload(pairs, [256, 2], device),
                    DynamicMap = Upload(DynamicMap.ToArray(), [256], device),
                    DynamicMidpoints = Upload(Midpoints(DynamicMap.Select(v => (double)v).ToArray()), [255], device),
                };
                TablesByDevice.Add(key, tables);
            }
            return tables;
        }
    }

    // Midpoints in double, rounded once to fp32, like the float literals of bitsandbytes' decision tree.
    private static float[] Midpoints(double[] sorted) =>
        Enumerable.Range(0, sorted.Length - 1).Select(i => (float)((sorted[i] + sorted[i + 1]) / 2)).ToArray();

    private static Tensor Upload(float[] values, long[] shape, Device device) =>
        tensor(values, shape, ScalarType.Float32, device).DetachFromDisposeScope();
}
