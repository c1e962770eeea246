using System.Text.Json.Nodes;

namespace QwenTune.Data;

/// <summary>
/// One conversation of a ChatML data file: `{"messages": [{"role", "content"}...], "type"?, "source"?}`.
/// <see cref="Messages"/> keeps each message's JSON as given (tool_calls and other fields reach the chat
/// template untouched); <see cref="Tools"/> is the record's optional "tools" list.
/// </summary>
public sealed record ChatSample(
    IReadOnlyList<JsonObject> Messages,
    JsonArray? Tools,
    string? Type,
    string? Source,
    SampleLocation Location);

/// <summary>Where a record came from, for messages: the file and its 1-based line.</summary>
public readonly record struct SampleLocation(string File, int Line)
{
    public override string ToString() => $"{File}:{Line}";
}
