namespace QwenTune.Tests.Distributed;

/// <summary>
/// One rank failing must end the whole job: rank 0 waits in an all-reduce that rank 1 never joins, so only mpirun
/// tearing the job down lets it finish.
/// </summary>
[Collection("mpirun")]
public sealed class MpiFailureTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    [Theory]
    [InlineData("abort")]
    [InlineData("exit")]
    [InlineData("kill")]
    public void One_rank_failing_ends_the_job_with_a_nonzero_exit(string mode)
    {
        using var folder = new TempFolder();
        var result = MpiRun.Run(2, Deadline, mode, folder.Path, "0");
        var output = result.Stdout + result.Stderr;
        Assert.True(result.ExitCode != 0, $"mpirun exited 0 although rank 1 failed ({mode}):\n{output}");
        Assert.True(result.Elapsed < Deadline, $"took {result.Elapsed}");
        Assert.DoesNotContain("returned although rank 1 was gone", output, StringComparison.Ordinal);
        // mpirun's own "MPI_ABORT was invoked on rank 1" notice is not always flushed before it exits, so only the code is checked.
        if (mode == "abort")
            Assert.Equal(7, result.ExitCode);
    }
}
