using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
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
    public Vector256<float> Read(long at) =>
        Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Sse2.LoadVector128(data + at)), 16).AsSingle();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> ReadOne(long at) => Vector256.Create(BitConverter.Int32BitsToSingle(data[at] << 16));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> ReadAgain(long at) => Read(at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public Vector256<float> ReadOneAgain(long at) => ReadOne(at);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Write(long at, Vector256<float> values)
    {
        var bits = BFloat16Bits.Round(values.AsVector()).AsVector256();
        Sse2.Store(data + at, Vector128.Narrow(bits.GetLower(), bits.GetUpper()));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void WriteOne(long at, Vector256<float> value) => data[at] = BFloat16Bits.Round(value.ToScalar());
}
