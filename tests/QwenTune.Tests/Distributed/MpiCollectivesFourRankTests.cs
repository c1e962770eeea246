namespace QwenTune.Tests.Distributed;

[Collection("mpirun")]
public sealed class MpiCollectivesFourRankTests(FourRankRun run) : CollectivesScenarioTests(run), IClassFixture<FourRankRun>;
