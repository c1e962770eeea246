using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>
/// Matrix products of bfloat16 tensors, run on float32 GEMMs where libtorch has no fast bf16 kernel.
/// <para>
/// On x86 CPUs without AVX512-BF16 or AMX (most AVX2 machines), libtorch 2.10's bf16 matmul falls back to a
/// reference loop: 0.9 GFLOP/s against 125-155 GFLOP/s in float32 on the 2-core EPYC this project is measured on,
/// which made `--bf16 True` (Qwen's default) about 150 times slower than float32. A bf16 GEMM multiplies bf16
/// inputs, whose products are exact in float32, and accumulates in float32 before rounding the result to bf16;
/// widening the inputs to float32 and rounding the float32 GEMM's result to bf16 computes the same thing (up to
/// the order of the float32 sums), so on such CPUs bf16 training keeps its numerics and its memory (weights,
/// activations and saved tensors stay bf16; the float32 copies live for one product) at float32 speed.
/// </para>
/// </summary>
public static class BFloat16Products
{
    /// <summary>Environment override: "float32" forces the widened path, "native" forbids it.</summary>
    public const string EnvironmentVariable = "QWENTUNE_BF16_PRODUCTS";

    /// <summary>The value of <see cref="EnvironmentVariable"/> when the process started.</summary>
    private static readonly string? Override = Environment.GetEnvironmentVariable(EnvironmentVariable);

    /// <summary>Whether this CPU has AVX512-BF16 or AMX (libtorch then has a native bf16 GEMM).</summary>
    public static bool CpuHasFastBFloat16 { get; } = DetectFastBFloat16();

    /// <summary>Whether CPU bf16 products widen to float32 in this process (tests may switch it).</summary>
    public static bool WidenOnCpu { get; set; } = Override switch
    {
        "float32" => true,
        "native" => false,
        _ => !CpuHasFastBFloat16,
    };

    /// <summary>How this process multiplies bf16 on CPU, for the startup line.</summary>
    public static string Description => WidenOnCpu
        ? "bf16 products on float32 GEMMs (this CPU has no AVX512-BF16/AMX)"
        : "bf16 products on libtorch's bf16 GEMMs";

    /// <summary>Whether products of <paramref name="t"/> take the widened path.</summary>
    public static bool Widens(Tensor t) => WidenOnCpu && t.dtype == ScalarType.BFloat16 && t.device_type == TorchSharp.DeviceType.CPU;

    /// <summary>
    /// Weights of at most this many elements widen even where libtorch has a native bf16 GEMM. oneDNN compiles a
    /// kernel for every product shape it meets, and the token count of a product changes with every micro-batch, so a
    /// small product costs more to compile than to run: in the embedded default (hidden 64, 4 layers, bf16) each
    /// micro-batch missed oneDNN's primitive cache 73 times, and compiling took 850 ms of every 2 steps' 5 s
    /// (ONEDNN_VERBOSE=2). The product saved by bf16 over float32 is about T x in x out x 1e-11 s here (0.1 ms at
    /// T = 800, 64 x 192), a compilation 0.5-3 ms. 64 x 192 and 192 x 64 widen; the 89M model's 512 x 128 does not.
    /// </summary>
    public const long WidenedWeightElements = 16384;

    /// <summary>
    /// Whether the product x @ weight^T takes the widened path: where <see cref="Widens"/>, or for a bf16 CPU weight of
    /// at most <see cref="WidenedWeightElements"/> elements (unless <see cref="EnvironmentVariable"/> says "native").
    /// </summary>
    public static bool WidensLinear(Tensor x, Tensor weight) =>
        Widens(x) || (x.dtype == ScalarType.BFloat16 && x.device_type == TorchSharp.DeviceType.CPU && Override != "native"
                      && weight.numel() <= WidenedWeightElements);


    /// <summary>x (..., in) @ weight (out, in)^T, differentiable in both, in x's dtype.</summary>
    public static Tensor Linear(Tensor x, Tensor weight) =>
        WidensLinear(x, weight) ? WidenedLinear.Apply(x, weight) : nn.functional.linear(x, weight);

    /// <summary>a @ b without autograd (inside custom backward passes), in a's dtype.</summary>
    public static Tensor MatMul(Tensor a, Tensor b)
    {
        if (!Widens(a))
            return a.matmul(b);
        using var wideA = a.to(ScalarType.Float32);
        using var wideB = b.to(ScalarType.Float32);
        using var product = wideA.matmul(wideB);
        return product.to(a.dtype);
    }

    /// <summary>
    /// Scaled dot-product attention; on the widened path q, k and v are float32 for the call (autograd keeps those
    /// copies for backward: attention's inputs are a small part of a layer's saved tensors).
    /// </summary>
    public static Tensor Attention(Tensor q, Tensor k, Tensor v, Tensor? mask)
    {
        if (!Widens(q))
        {
            if (ComposedAttentionApplies(q, k))
                return ComposedAttention(q, k, v, mask);
            return mask is null
                ? nn.functional.scaled_dot_product_attention(q, k, v, is_casual: true)
                : nn.functional.scaled_dot_product_attention(q, k, v, attn_mask: mask);
        }
        using var scope = NewDisposeScope();
        var (wq, wk, wv) = (q.to(ScalarType.Float32), k.to(ScalarType.Float32), v.to(ScalarType.Float32));
        var wideMask = mask is null || mask.dtype == ScalarType.Bool ? mask : mask.to(ScalarType.Float32);
        var attended = wideMask is null
            ? nn.functional.scaled_dot_product_attention(wq, wk, wv, is_casual: true)
            : nn.functional.scaled_dot_product_attention(wq, wk, wv, attn_mask: wideMask);
        return attended.to(q.dtype).MoveToOuterDisposeScope();
    }

    /// <summary>
    /// Most attention weights (batch x heads x queries x keys) of one call that <see cref="ComposedAttention"/> takes: its
    /// backward keeps them, about 6 bytes each (float32 softmax and its bf16 copy), 24 MB per layer at the default.
    /// </summary>
    internal const long ComposedAttentionWeights = 4L << 20;

    /// <summary>
    /// bf16 on the CPU over a short sequence (training's square attention, no KV cache): libtorch's CPU flash attention
    /// runs its products in float32 over small tiles, where Hugging Face's eager composition is two batched bf16 products.
    /// Forward and backward of one layer's attention on a 2-core Zen 5 (AVX512-BF16), flash against composed: 2 x 14
    /// heads x 256 tokens 16.7 against 7.9 ms, 4 x 8 x 256 20.1 against 10.0, 2 x 14 x 512 53.6 against 30.9, 1 x 14 x
    /// 1024 65.0 against 62.1; float32 16.5 against 16.1 (so float32 keeps flash, whose memory does not grow with T^2).
    /// </summary>
    internal static bool ComposedAttentionApplies(Tensor q, Tensor k) =>
        q.dtype == ScalarType.BFloat16 && q.device_type == TorchSharp.DeviceType.CPU && q.shape[^2] == k.shape[^2]
        && q.shape[0] * q.shape[1] * q.shape[^2] * k.shape[^2] <= ComposedAttentionWeights;

    /// <summary>
    /// Hugging Face's eager attention: softmax(q k^T / sqrt(D) + mask) in float32, cast back to q's dtype, times v; the
    /// mask causal when none is given, else boolean (true attends).
    /// </summary>
    private static Tensor ComposedAttention(Tensor q, Tensor k, Tensor v, Tensor? mask)
    {
        using var scope = NewDisposeScope();
        var scores = q.matmul(k.transpose(-2, -1)) * (1.0 / Math.Sqrt(q.shape[^1]));               // (B, H, T, T)
        var blocked = mask is null
            ? ones(q.shape[^2], k.shape[^2], ScalarType.Bool, q.device).triu(1)
            : mask.logical_not();
        var weights = scores.masked_fill(blocked, float.NegativeInfinity).softmax(-1, ScalarType.Float32).to(q.dtype);
        return weights.matmul(v).MoveToOuterDisposeScope();                                          // (B, H, T, D)
    }

    // AVX512-BF16 (Cooper Lake, Zen4 and later) or AMX gives oneDNN a native bf16 GEMM; without either libtorch's CPU
    // bf16 matmul is the slow path. Non-x86 or unreadable cpuinfo: keep libtorch's own choice.
    private static bool DetectFastBFloat16()
    {
        try
        {
            if (!File.Exists("/proc/cpuinfo"))
                return true;
            var flags = File.ReadLines("/proc/cpuinfo").FirstOrDefault(l => l.StartsWith("flags", StringComparison.Ordinal));
            if (flags is null)
                return true;
            return flags.Contains(" avx512_bf16", StringComparison.Ordinal) || flags.Contains(" amx_bf16", StringComparison.Ordinal);
        }
        catch (IOException)
        {
            return true;
        }
    }
}
