using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using QwenTune.Models;

namespace QwenTune.Training;

/// <summary>
/// A bf16 logits block as libtorch's bf16 products write it: read by widening (exact), the gradient written back over
/// it rounded as c10::BFloat16 rounds (<see cref="BFloat16Bits"/>), where the next products read it.
/// </summary>
internal readonly unsafe struct BFloat16LogitsBlock(ushort* data) : ILogitsBlock
{
    public bool RoundsToBFloat16 => true;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> Read(long at) => BFloat16Bits.Load(data + at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> ReadOne(long at) => Vector256.Create(BFloat16Bits.ToSingle(data[at]));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> ReadAgain(long at) => Read(at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> ReadOneAgain(long at) => ReadOne(at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(long at, Vector256<float> values) => BFloat16Bits.Store(data + at, values);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteOne(long at, Vector256<float> value) => data[at] = BFloat16Bits.Round(value.ToScalar());
}
