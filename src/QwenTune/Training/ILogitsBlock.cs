using System.Runtime.Intrinsics;

namespace QwenTune.Training;

/// <summary>
/// How <see cref="HeadKernels"/>' passes read a logits block and write its gradient in place: eight elements at a time
/// (or one), whatever the block holds. Implemented by structs, so each pass is compiled once per storage with the
/// reads and writes inlined.
/// </summary>
internal interface ILogitsBlock
{
    /// <summary>Whether the model is bf16: the logits are bf16 values, and the gradient is scaled and rounded to bf16.</summary>
    bool RoundsToBFloat16 { get; }

    /// <summary>
    /// Eight logits from element <paramref name="at"/>, as bf16 values when the model is bf16 (a float32 block rounds
    /// them and stores them back rounded).
    /// </summary>
    Vector256<float> Read(long at);

    /// <summary>One logit, broadcast (the scalar tails), as <see cref="Read"/>.</summary>
    Vector256<float> ReadOne(long at);

    /// <summary>Eight logits that <see cref="Read"/> has read before (so nothing is left to round).</summary>
    Vector256<float> ReadAgain(long at);

    /// <summary>One logit, broadcast, that <see cref="ReadOne"/> has read before.</summary>
    Vector256<float> ReadOneAgain(long at);

    /// <summary>Eight gradient values to element <paramref name="at"/>, rounded to bf16 when the model is bf16.</summary>
    void Write(long at, Vector256<float> values);

    /// <summary>Lane 0 of <paramref name="value"/> to element <paramref name="at"/>, as <see cref="Write"/>.</summary>
    void WriteOne(long at, Vector256<float> value);
}
