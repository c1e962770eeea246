namespace QwenTune.Tests.Runtime;

/// <summary>
/// When kept allocator pages go back (KeptPagesPolicy): the working set is resident memory after the second step (of
/// the run, or after a hand-back); a step ending more than 5% above it hands the pages back before the next step.
/// </summary>
public sealed class KeptPagesPolicyTests
{
    private const long Mb = 1 << 20;

    [Fact]
    public void Pages_go_back_once_memory_outgrows_the_settled_working_set_by_more_than_five_percent()
    {
        var policy = new KeptPagesPolicy();
        var handedBack = new List<int>();
        // Step 1 leaves 700 MB, step 2 settles at 1,000; then 1,050 (5%, allowed), 1,051 (past it), and after the
        // hand-back the run faults in 800 and settles at 1,000 again.
        long[] after = [700, 1000, 1020, 1050, 1051, 800, 1000, 1020, 1055];
        for (var step = 0; step < after.Length; step++)
        {
            if (policy.BeforeStep())
                handedBack.Add(step);
            policy.AfterStep(after[step] * Mb);
        }
        Assert.Equal([5], handedBack);
        Assert.True(policy.BeforeStep());   // 1,055 is 5.5% above the new working set of 1,000
        Assert.False(policy.BeforeStep());   // once
    }

    [Fact]
    public void Growth_during_the_settling_steps_and_a_larger_new_working_set_are_not_handed_back()
    {
        var policy = new KeptPagesPolicy();
        long[] after = [100, 500, 510, 600, 620, 630, 650, 661];   // back once (600 > 525), then settled at 630
        var backs = 0;
        foreach (var rss in after)
        {
            backs += policy.BeforeStep() ? 1 : 0;
            policy.AfterStep(rss * Mb);
        }
        Assert.Equal(1, backs);
        Assert.False(policy.BeforeStep());   // 661 is 4.9% above 630: still kept
    }

    [Fact]
    public void Nothing_is_handed_back_without_a_resident_size()
    {
        var policy = new KeptPagesPolicy();
        foreach (var rss in new long[] { 0, 0, 0, 0, 0 })
            policy.AfterStep(rss);
        Assert.False(policy.BeforeStep());
    }
}
