namespace QwenTune.Planning;

/// <summary>A micro-batch's forward and backward time if every product ran at the measured GEMM rate (a lower bound).</summary>
public sealed record StepTimeEstimate(StepFlops Flops, double GemmFlopsPerSecond)
{
    public double Seconds => Flops.Total / GemmFlopsPerSecond;
}
