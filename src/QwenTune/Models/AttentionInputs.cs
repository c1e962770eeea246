using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>
/// What every decoder layer needs besides the hidden states: rotary cos/sin (B, 1, T, D) and, when the batch has
/// padding that a causal mask alone cannot handle, a boolean mask (B, 1, T, T), true = may attend.
/// </summary>
public sealed record AttentionInputs(Tensor Cos, Tensor Sin, Tensor? Mask);
