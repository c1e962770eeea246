namespace QwenTune.Hub;

/// <summary>How far the download of one file has come (bytes on disk, resumed bytes included).</summary>
public sealed record HubTransfer(string File, long Received, long? Total, bool Done);
