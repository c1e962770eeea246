namespace QwenTune.Tests.Distributed;

[Collection("mpirun")]
public sealed class MpiCollectivesTwoRankTests(TwoRankRun run) : CollectivesScenarioTests(run), IClassFixture<TwoRankRun>;
