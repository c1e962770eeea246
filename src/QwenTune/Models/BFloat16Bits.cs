using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace QwenTune.Models;

/// <summary>
/// float32 to bf16 as c10::BFloat16 converts it: round to nearest, ties to even; NaN becomes the quiet NaN 0x7FC0. One
/// definition for every hand-written pass that writes or emulates bf16 (the fused AdamW's parameter copy, the loss
/// head's rounding, LoRA dropout).
/// </summary>
internal static unsafe class BFloat16Bits
{
    /// <summary>The float32 a bf16 value stands for (exact: its bits are the top half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float ToSingle(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

    /// <summary>Eight bf16 values from <paramref name="at"/> as float32 (AVX2).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<float> Load(ushort* at) => Avx2.ShiftLeftLogical(Avx2.ConvertToVector256Int32(Sse2.LoadVector128(at)), 16).AsSingle();

    /// <summary>Sixteen bf16 values from <paramref name="at"/> as float32 (AVX-512).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> LoadSixteen(ushort* at) => Widen(Avx.LoadVector256(at));

    /// <summary>Sixteen bf16 values as float32 (exact: their bits are the top halves).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<float> Widen(Vector256<ushort> bits) =>
        Avx512F.ShiftLeftLogical(Avx512F.ConvertToVector512UInt32(bits), 16).AsSingle();

    /// <summary>Sixteen float32 values rounded to bf16 (<see cref="Round(Vector512{float})"/>).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<ushort> Narrow(Vector512<float> values) => Avx512F.ConvertToVector256UInt16(Round(values));

    /// <summary>Eight float32 values rounded to bf16 and stored at <paramref name="at"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Store(ushort* at, Vector256<float> values)
    {
        var bits = Round(values.AsVector()).AsVector256();
        Sse2.Store(at, Vector128.Narrow(bits.GetLower(), bits.GetUpper()));
    }

    public static ushort Round(float value)
    {
        if (float.IsNaN(value))
            return 0x7FC0;
        var bits = BitConverter.SingleToUInt32Bits(value);
        return (ushort)((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16);
    }

    /// <summary>The bf16 bits of each element, in the low half of its 32-bit lane.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector<uint> Round(Vector<float> values)
    {
        var bits = Vector.AsVectorUInt32(values);
        var rounded = Vector.ShiftRightLogical(bits + new Vector<uint>(0x7FFF) + (Vector.ShiftRightLogical(bits, 16) & Vector<uint>.One), 16);
        var isNaN = Vector.GreaterThan(bits & new Vector<uint>(0x7FFFFFFF), new Vector<uint>(0x7F800000));
        return Vector.ConditionalSelect(isNaN, new Vector<uint>(0x7FC0), rounded);
    }

    /// <summary>As <see cref="Round(Vector{float})"/> on sixteen lanes (the loss head's AVX-512 passes).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector512<uint> Round(Vector512<float> values)
    {
        var bits = values.AsUInt32();
        var rounded = Vector512.ShiftRightLogical(bits + Vector512.Create(0x7FFFu) + (Vector512.ShiftRightLogical(bits, 16) & Vector512<uint>.One), 16);
        var isNaN = Vector512.GreaterThan(bits & Vector512.Create(0x7FFFFFFFu), Vector512.Create(0x7F800000u));
        return Vector512.ConditionalSelect(isNaN, Vector512.Create(0x7FC0u), rounded);
    }
}
