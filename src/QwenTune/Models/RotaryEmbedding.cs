using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>
/// Rotary position embedding as Hugging Face's Qwen2RotaryEmbedding computes it: inv_freq = 1 / theta^(2i/d)
/// in float32, angles = position * inv_freq in float32, cos/sin of cat(angles, angles) cast to the activation
/// dtype, applied with rotate_half. "linear" rope_scaling divides inv_freq by the factor.
/// </summary>
public sealed class RotaryEmbedding : nn.Module
{
    public RotaryEmbedding(QwenConfig config, Device device) : base(nameof(RotaryEmbedding))
    {
        var dim = config.HeadDim;
        using var exponents = arange(0, dim, 2, ScalarType.Int64, device).to(ScalarType.Float32) / dim;
        using var denominators = pow(config.RopeTheta, exponents);
        var invFreq = 1.0f / denominators;
        if (config.RopeScaling is { Kind: "linear" } scaling)
            invFreq.div_(scaling.Factor);
        // Registered by name only: a Tensor field would be picked up as a persistent buffer.
        register_buffer("inv_freq", invFreq, persistent: false);
    }

    /// <summary>cos and sin for the given positions (B, T), each (B, 1, T, D) in <paramref name="dtype"/>.</summary>
    public (Tensor Cos, Tensor Sin) Compute(Tensor positionIds, ScalarType dtype)
    {
        using var scope = NewDisposeScope();
        var angles = positionIds.to(ScalarType.Float32).unsqueeze(-1) * get_buffer("inv_freq")!.to(positionIds.device); // (B, T, D/2)
        var emb = cat([angles, angles], -1).unsqueeze(1);                                                // (B, 1, T, D)
        var cos = emb.cos().to(dtype);
        var sin = emb.sin().to(dtype);
        return (cos.MoveToOuterDisposeScope(), sin.MoveToOuterDisposeScope());
    }

    /// <summary>x * cos + rotate_half(x) * sin, for x of shape (B, heads, T, D).</summary>
    public static Tensor Apply(Tensor x, Tensor cos, Tensor sin)
    {
        using var scope = NewDisposeScope();
        var halves = x.chunk(2, -1);
        var rotated = cat([-halves[1], halves[0]], -1);
        return (x * cos + rotated * sin).MoveToOuterDisposeScope();
    }
}
