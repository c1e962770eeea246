using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Tests.Checkpoints;

/// <summary>Random tensors of every safetensors dtype, and a bit-level comparison.</summary>
internal static class SampleTensors
{
    public static List<KeyValuePair<string, Tensor>> AllDTypes(int seed = 1234)
    {
        using var generator = new Generator((ulong)seed);
        return
        [
            new("weights.f32", torch.randn([64, 33], generator: generator)),
            new("weights.bf16", torch.randn([40, 17], generator: generator).to(ScalarType.BFloat16)),
            new("weights.f16", torch.randn([31], generator: generator).to(ScalarType.Float16)),
            new("weights.f64", torch.randn([3, 5], ScalarType.Float64, generator: generator)),
            new("ids.i64", torch.randint(-(1L << 40), 1L << 40, [5, 7], ScalarType.Int64, generator: generator)),
            new("ids.i32", torch.randint(int.MinValue, int.MaxValue, [9], ScalarType.Int32, generator: generator)),
            new("ids.i16", torch.randint(short.MinValue, short.MaxValue, [2, 2], ScalarType.Int16, generator: generator)),
            new("ids.i8", torch.randint(-128, 127, [6], ScalarType.Int8, generator: generator)),
            new("packed.u8", torch.randint(0, 256, [123], ScalarType.Byte, generator: generator)),
            new("mask.bool", torch.randint(0, 2, [4, 4], ScalarType.Int8, generator: generator).to(ScalarType.Bool)),
            new("scalar.f32", torch.tensor(3.25f)),
            new("empty.f32", torch.zeros([0, 4])),
        ];
    }

    public static void AssertBitIdentical(Tensor expected, Tensor actual)
    {
        Assert.Equal(expected.dtype, actual.dtype);
        Assert.Equal(expected.shape, actual.shape);
        Assert.Equal(expected.bytes.ToArray(), actual.bytes.ToArray());
    }

    public static void Dispose(IEnumerable<KeyValuePair<string, Tensor>> tensors)
    {
        foreach (var (_, tensor) in tensors)
            tensor.Dispose();
    }
}
