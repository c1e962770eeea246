namespace QwenTune.Tests.Distributed;

/// <summary>Four ranks on two cores (oversubscribed): rank counts past 2 take other reduction algorithms.</summary>
public sealed class FourRankRun() : CollectivesRun(4);
