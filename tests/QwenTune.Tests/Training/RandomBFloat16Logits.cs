using QwenTune.Models;

namespace QwenTune.Tests.Training;

/// <summary>Logits for the bf16 head-kernel tests: uniform in [-15, 15), rounded to bf16, with chosen values placed.</summary>
internal static class RandomBFloat16Logits
{
    /// <summary>
    /// <paramref name="count"/> logits drawn from <paramref name="random"/>, then <paramref name="padding"/> zeros, with
    /// <paramref name="placed"/> overwriting theirs; and the first <paramref name="count"/> widened to float32 (bits
    /// shifted, apart from the code under test).
    /// </summary>
    public static (ushort[] Bits, float[] Wide) Create(Random random, int count, int padding, params (int Index, float Value)[] placed)
    {
        var bits = new ushort[count + padding];
        for (var i = 0; i < count; i++)
            bits[i] = BFloat16Bits.Round((float)(random.NextDouble() * 30 - 15));
        foreach (var (index, value) in placed)
            bits[index] = BFloat16Bits.Round(value);
        return (bits, bits.Take(count).Select(b => BitConverter.Int32BitsToSingle(b << 16)).ToArray());
    }
}
