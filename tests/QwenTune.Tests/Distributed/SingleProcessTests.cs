using QwenTune.Distributed;
using static TorchSharp.torch;

namespace QwenTune.Tests.Distributed;

public sealed class SingleProcessTests
{
    [Fact]
    public void One_rank_sums_are_identities_and_gathers_are_copies()
    {
        using var scope = NewDisposeScope();
        using var collectives = new SingleProcess();
        var values = arange(6, dtype: ScalarType.Float32);
        collectives.AllReduceSum(values);
        collectives.AllReduceSumAsync(values).Wait();
        Assert.Equal(new float[] { 0, 1, 2, 3, 4, 5 }, values.data<float>().ToArray());
        var scattered = zeros(6);
        collectives.ReduceScatterSum(values.view(2, 3), scattered);
        var gathered = zeros(2, 3);
        collectives.AllGather(values, gathered);
        Assert.Equal(values.data<float>().ToArray(), scattered.data<float>().ToArray());
        Assert.Equal(values.data<float>().ToArray(), gathered.view(-1).data<float>().ToArray());
        Assert.Equal(2.5, collectives.AllReduceMax(2.5));
    }
}
