using static TorchSharp.torch;

namespace QwenTune.Distributed;

/// <summary>
/// The collective operations the trainer needs across data-parallel processes. One process is
/// <see cref="SingleProcess"/>; MPI (CPU tensors, or CUDA tensors staged through host memory) and NCCL (CUDA
/// tensors) implement the same contract, built by <see cref="Collectives.Create"/>.
/// Sums of bfloat16 and float16 tensors are accumulated in float32 and rounded back once, so the result does not
/// depend on the number of ranks or the reduction order more than float32 rounding does.
/// </summary>
public interface ICollectives : IDisposable
{
    int Rank { get; }

    int WorldSize { get; }

    /// <summary>Library, rank count and transport, e.g. "Open MPI v4.1.4, 2 ranks, CPU tensors over MPI"; the caller logs it once.</summary>
    string Description { get; }

    /// <summary>Sums the tensor element-wise over all ranks, in place.</summary>
    void AllReduceSum(Tensor tensor);

    /// <summary>Sums a scalar over all ranks.</summary>
    double AllReduceSum(double value);

    /// <summary>The largest of a scalar over all ranks.</summary>
    double AllReduceMax(double value);

    /// <summary>
    /// Sums <paramref name="input"/> (WorldSize * n elements, read as a flat view) over all ranks and leaves this
    /// rank's chunk of the sum, elements [Rank * n, (Rank + 1) * n), in <paramref name="output"/> (n elements).
    /// </summary>
    void ReduceScatterSum(Tensor input, Tensor output);

    /// <summary>Concatenates every rank's <paramref name="input"/> (n elements) into <paramref name="output"/> (WorldSize * n), rank r at [r * n, (r + 1) * n).</summary>
    void AllGather(Tensor input, Tensor output);

    /// <summary>
    /// Concatenates every rank's <paramref name="input"/> (n elements) into <paramref name="output"/> (WorldSize * n) on
    /// <paramref name="root"/> alone, rank r at [r * n, (r + 1) * n); the other ranks pass null and keep nothing. This
    /// default gathers to every rank through a scratch tensor; transports with a rooted gather override it.
    /// </summary>
    void Gather(Tensor input, Tensor? output, int root)
    {
        if (output is not null)
        {
            AllGather(input, output);
            return;
        }
        using var scratch = empty(input.NumberOfElements * WorldSize, input.dtype, input.device);
        AllGather(input, scratch);
    }

    /// <summary>Overwrites <paramref name="tensor"/> on every rank with its value on <paramref name="root"/>.</summary>
    void Broadcast(Tensor tensor, int root);

    /// <summary>Starts <see cref="AllReduceSum(Tensor)"/>; <paramref name="tensor"/> holds the sum once the request's Wait returns.</summary>
    ICollectiveRequest AllReduceSumAsync(Tensor tensor);

    /// <summary>Starts <see cref="ReduceScatterSum"/>; <paramref name="output"/> holds the chunk once the request's Wait returns.</summary>
    ICollectiveRequest ReduceScatterSumAsync(Tensor input, Tensor output);

    void Barrier();

    /// <summary>Ends every rank of the job with <paramref name="errorCode"/> (MPI_Abort); use when one rank cannot go on.</summary>
    void Abort(int errorCode);
}
