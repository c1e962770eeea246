using QwenTune.Fuzz;
using QwenTune.Fuzz.Targets;

namespace QwenTune.Tests.Fuzz;

/// <summary>
/// Replays fuzz/corpus/&lt;target&gt;/seeds and regressions (every input that once crashed, hung or over-allocated)
/// through each fuzz target: each must now be accepted or refused with our own error type.
/// </summary>
public sealed class FuzzCorpusReplayTests
{
    /// <summary>Far above the fuzzer's 2 s (inputs finish in milliseconds), so a loaded CI machine does not fail it.</summary>
    private static readonly TimeSpan ReplayBudget = TimeSpan.FromSeconds(20);

    public static TheoryData<string> Targets => new(FuzzTargets.All.Select(t => t.Name));

    [Theory]
    [MemberData(nameof(Targets))]
    public void Every_committed_input_is_accepted_or_refused_with_our_error(string targetName)
    {
        var target = FuzzTargets.Find(targetName)!;
        var folders = new CorpusFolders(Fixtures.RepositoryRoot, targetName);
        var inputs = folders.CommittedInputs().ToList();
        Assert.True(CorpusFolders.Files(folders.Seeds).Count() >= 3, $"{folders.Seeds} holds fewer than 3 seeds");
        var work = Directory.CreateTempSubdirectory("qwentune-fuzz-replay-");
        try
        {
            var failures = new List<string>();
            foreach (var path in inputs)
            {
                var outcome = FuzzExecution.Run(target, File.ReadAllBytes(path), work.FullName);
                if (outcome.Kind is FuzzOutcomeKind.Crash or FuzzOutcomeKind.Allocation || outcome.Elapsed > ReplayBudget)
                    failures.Add($"{Path.GetRelativePath(Fixtures.RepositoryRoot, path)}: {outcome.Describe()}");
            }
            Assert.True(failures.Count == 0, string.Join("\n\n", failures));
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [Fact]
    public void Seeds_are_valid_inputs_that_the_targets_accept()
    {
        // A seed that is refused explores only the error path; these are meant as valid starting points.
        var work = Directory.CreateTempSubdirectory("qwentune-fuzz-seeds-");
        try
        {
            foreach (var target in FuzzTargets.All)
            {
                foreach (var path in CorpusFolders.Files(new CorpusFolders(Fixtures.RepositoryRoot, target.Name).Seeds)
                             .Where(p => !Path.GetFileName(p).StartsWith("invalid", StringComparison.Ordinal)))
                {
                    var outcome = FuzzExecution.Run(target, File.ReadAllBytes(path), work.FullName);
                    Assert.True(outcome.Kind is FuzzOutcomeKind.Accepted or FuzzOutcomeKind.Slow, $"{path}: {outcome.Describe()} {outcome.Exception?.Message}");
                }
            }
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    [Fact]
    public void A_foreign_exception_is_a_crash_and_ours_a_rejection()
    {
        var work = Directory.CreateTempSubdirectory("qwentune-fuzz-classify-");
        try
        {
            Assert.Equal(FuzzOutcomeKind.Crash, FuzzExecution.Run(new ThrowingTarget(() => new IndexOutOfRangeException()), [1], work.FullName).Kind);
            Assert.Equal(FuzzOutcomeKind.Rejected, FuzzExecution.Run(new ThrowingTarget(() => new QwenTuneException("bad")), [1], work.FullName).Kind);
            Assert.Equal(FuzzOutcomeKind.Allocation, FuzzExecution.Run(new ThrowingTarget(null, allocate: true), [1], work.FullName).Kind);
        }
        finally
        {
            work.Delete(recursive: true);
        }
    }

    private sealed class ThrowingTarget(Func<Exception>? error, bool allocate = false) : IFuzzTarget
    {
        public string Name => "throwing";

        public string Description => "";

        public string InputFileName => "input";

        public IReadOnlyList<string> Dictionary => [];

        public void Prepare(string workFolder) => Directory.CreateDirectory(workFolder);

        public void Execute(string inputPath, byte[] input)
        {
            if (allocate)
            {
                for (var i = 0; i < 6; i++)
                    GC.KeepAlive(new byte[100 << 20]);
            }
            if (error is not null)
                throw error();
        }
    }
}
