namespace QwenTune.Runtime;

/// <summary>HF's --tf32: TF32 tensor-core matrix products (torch.backends.cuda.matmul.allow_tf32 and cudnn's), CUDA only.</summary>
public static class Tf32Setting
{
    /// <summary>Applies --tf32 when given; returns the line that says what it did, or null when it was not given.</summary>
    public static string? Apply(bool? tf32, ComputeEnvironment environment)
    {
        if (tf32 is not { } allow)
            return null;
        if (!environment.IsCuda)
            return $"--tf32 {allow}: a no-op on CPU (TF32 is a format of NVIDIA tensor cores); float32 matrix products stay full float32.";
        TorchSharp.torch.backends.cuda.matmul.allow_tf32 = allow;
        TorchSharp.torch.backends.cudnn.allow_tf32 = allow;
        return $"--tf32 {allow}: TF32 matrix products and convolutions {(allow ? "allowed" : "disallowed")} on CUDA.";
    }
}
