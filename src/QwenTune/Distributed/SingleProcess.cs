using static TorchSharp.torch;

namespace QwenTune.Distributed;

/// <summary>The trivial world of one process: sums and gathers over one rank are copies.</summary>
public sealed class SingleProcess : ICollectives
{
    public int Rank => 0;

    public int WorldSize => 1;

    public string Description => "single process, no collectives";

    public void AllReduceSum(Tensor tensor) { }

    public double AllReduceSum(double value) => value;

    public double AllReduceMax(double value) => value;

    public void ReduceScatterSum(Tensor input, Tensor output) => CopyFlat(input, output);

    public void AllGather(Tensor input, Tensor output) => CopyFlat(input, output);

    public void Gather(Tensor input, Tensor? output, int root)
    {
        if (root != 0)
            throw new ArgumentOutOfRangeException(nameof(root), root, "A single process has only rank 0.");
        if (output is not null)
            CopyFlat(input, output);
    }

    public void Broadcast(Tensor tensor, int root)
    {
        if (root != 0)
            throw new ArgumentOutOfRangeException(nameof(root), root, "A single process has only rank 0.");
    }

    public ICollectiveRequest AllReduceSumAsync(Tensor tensor) => CompletedRequest.Instance;

    public ICollectiveRequest ReduceScatterSumAsync(Tensor input, Tensor output)
    {
        ReduceScatterSum(input, output);
        return CompletedRequest.Instance;
    }

    public void Barrier() { }

    public void Abort(int errorCode) => Environment.Exit(errorCode);

    public void Dispose() { }

    private static void CopyFlat(Tensor input, Tensor output)
    {
        if (input.NumberOfElements != output.NumberOfElements)
            throw new ArgumentException($"input has {input.NumberOfElements} elements, output {output.NumberOfElements}; with one rank they must match.");
        if (ReferenceEquals(input, output))
            return;
        using var scope = NewDisposeScope();
        using (no_grad())
            output.view(-1).copy_(input.reshape(-1));
    }
}
