using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenTune.Training;

/// <summary>
/// A float32 logits block: the products' own output, or, for a bf16 model on float32 products, logits that the passes
/// round to bf16 as they read them (storing the rounded values back, so that later reads see what the model's dtype
/// holds).
/// </summary>
internal readonly unsafe struct Float32LogitsBlock(float* data, bool roundToBFloat16) : ILogitsBlock
{
    public bool RoundsToBFloat16 => roundToBFloat16;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Read(long at)
    {
        var x = Avx.LoadVector256(data + at);
        if (!roundToBFloat16)
            return x;
        x = HeadKernels.RoundToBFloat16(x);
        Avx.Store(data + at, x);
        return x;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> ReadOne(long at)
    {
        var x = Vector256.Create(data[at]);
        if (!roundToBFloat16)
            return x;
        x = HeadKernels.RoundToBFloat16(x);
        data[at] = x.ToScalar();
        return x;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> ReadAgain(long at) => Avx.LoadVector256(data + at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> ReadOneAgain(long at) => Vector256.Create(data[at]);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(long at, Vector256<float> values) =>
        Avx.Store(data + at, roundToBFloat16 ? HeadKernels.RoundToBFloat16(values) : values);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteOne(long at, Vector256<float> value) =>
        data[at] = (roundToBFloat16 ? HeadKernels.RoundToBFloat16(value) : value).ToScalar();
}
