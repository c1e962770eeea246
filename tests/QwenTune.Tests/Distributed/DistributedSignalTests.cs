using System.Security.Cryptography;
using QwenTune.Tests.Cli;
using QwenTune.Tests.Training;

namespace QwenTune.Tests.Distributed;

/// <summary>
/// SIGTERM reaching only one rank of a two-rank job (a scheduler signals ranks a moment apart, or some of them): the ranks
/// agree after the step, save one consistent checkpoint together and stop; the job resumes on the uninterrupted trajectory.
/// </summary>
[Collection("mpirun")]
public sealed class DistributedSignalTests(DataParallelRuns runs) : IClassFixture<DataParallelRuns>
{
    [Fact]
    public void Sigterm_to_one_rank_stops_every_rank_after_the_same_step_with_one_checkpoint()
    {
        var straight = runs.Ranks(2, "two");
        var stopped = runs.Fixture.Output("signalled");
        using (var mpirun = new SignalProcess(MpiRun.TestHostStartInfo(2, ["train-pausing-step", "3", "4", .. runs.Arguments(stopped, 2)])))
        {
            mpirun.WaitForStderr("step 3 under way");
            SignalProcess.Send(MpiRun.RankPid(mpirun.Id, 1), "TERM");
            var exitCode = mpirun.WaitForExit();
            var output = mpirun.Stdout + mpirun.Stderr;
            Assert.True(exitCode != 0, output);
            Assert.Contains($"Stopped by SIGTERM after step 3 of 4: checkpoint saved to {Path.Combine(stopped, "checkpoint-3")}", output);
            Assert.Single(output.Split('\n'), line => line.Contains("Stopped by SIGTERM", StringComparison.Ordinal));
        }
        Assert.Equal(["checkpoint-2", "checkpoint-3"], Directory.GetDirectories(stopped, "checkpoint-*").Select(Path.GetFileName).Order());
        Assert.False(File.Exists(Path.Combine(stopped, "model.safetensors")));

        var resumed = MpiRun.Cli(2, DataParallelRuns.Deadline, ["train", .. runs.Arguments(stopped, 2)]);
        Assert.True(resumed.ExitCode == 0, resumed.Stdout + resumed.Stderr);
        Assert.Contains("Resumed from", resumed.Stderr);
        Assert.Equal(TrainingRuns.LoggedLosses(straight), TrainingRuns.LoggedLosses(stopped));
        Assert.Equal(Hash(Path.Combine(straight, "model.safetensors")), Hash(Path.Combine(stopped, "model.safetensors")));
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
