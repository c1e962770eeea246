namespace QwenTune.Tests.Distributed;

public sealed class TwoRankRun() : CollectivesRun(2);
