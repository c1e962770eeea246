namespace QwenTune.Hub;

/// <summary>The Hub could not be reached at all (no route, DNS, refused): a cached snapshot may still serve.</summary>
public sealed class HubUnreachableException(string message, Exception inner) : QwenTuneException(message, inner);
