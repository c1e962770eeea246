namespace QwenTune.Hub;

/// <summary>A revision as the Hub resolved it: its commit and the files it holds.</summary>
public sealed record HubRevision(string Commit, IReadOnlyList<HubFile> Files);
