using System.Numerics;
using System.Runtime.CompilerServices;

namespace QwenTune.Models;

/// <summary>
/// float32 to bf16 as c10::BFloat16 converts it: round to nearest, ties to even; NaN becomes the quiet NaN 0x7FC0. One
/// definition for every hand-written pass that writes or emulates bf16 (the fused AdamW's parameter copy, the loss
/// head's rounding, LoRA dropout).
/// </summary>
internal static class BFloat16Bits
{
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
}
