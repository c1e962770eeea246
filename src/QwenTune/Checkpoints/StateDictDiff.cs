using System.Text;

namespace QwenTune.Checkpoints;

/// <summary>The differences between a model's state dict and a checkpoint, as strict loading reports them.</summary>
public sealed record StateDictDiff(
    IReadOnlyList<string> Missing,
    IReadOnlyList<string> Unexpected,
    IReadOnlyList<(string Key, IReadOnlyList<long> Model, IReadOnlyList<long> Checkpoint)> ShapeMismatches)
{
    private const int ListedPerKind = 20;

    public bool IsEmpty => Missing.Count == 0 && Unexpected.Count == 0 && ShapeMismatches.Count == 0;

    /// <summary>Compares key sets and shapes; keys are sorted ordinally so the report is stable.</summary>
    public static StateDictDiff Compare(
        IReadOnlyDictionary<string, IReadOnlyList<long>> model,
        IReadOnlyDictionary<string, IReadOnlyList<long>> checkpoint,
        StrictLoadOptions options)
    {
        var allowedMissing = StrictLoadOptions.Matcher(options.AllowedMissing);
        var ignored = StrictLoadOptions.Matcher(options.Ignored);
        var missing = model.Keys.Where(k => !checkpoint.ContainsKey(k) && !ignored(k) && !allowedMissing(k));
        var unexpected = checkpoint.Keys.Where(k => !model.ContainsKey(k) && !ignored(k));
        var mismatched = model
            .Where(m => !ignored(m.Key) && checkpoint.TryGetValue(m.Key, out var c) && !c.SequenceEqual(m.Value))
            .Select(m => (m.Key, m.Value, checkpoint[m.Key]));
        return new StateDictDiff(Sorted(missing), Sorted(unexpected), mismatched.OrderBy(m => m.Key, StringComparer.Ordinal).ToList());
    }

    /// <summary>A report listing up to 20 keys of each kind, with counts.</summary>
    public string Describe()
    {
        var text = new StringBuilder();
        AppendList(text, "missing from the checkpoint", Missing);
        AppendList(text, "unexpected (in the checkpoint, not in the model)", Unexpected);
        AppendList(text, "with a different shape", ShapeMismatches
            .Select(m => $"{m.Key}: model [{string.Join(", ", m.Model)}], checkpoint [{string.Join(", ", m.Checkpoint)}]")
            .ToList());
        return text.ToString().TrimEnd();
    }

    private static List<string> Sorted(IEnumerable<string> keys) => keys.OrderBy(k => k, StringComparer.Ordinal).ToList();

    private static void AppendList(StringBuilder text, string title, IReadOnlyList<string> lines)
    {
        if (lines.Count == 0)
            return;
        text.AppendLine($"{lines.Count} key(s) {title}:");
        foreach (var line in lines.Take(ListedPerKind))
            text.AppendLine("  " + line);
        if (lines.Count > ListedPerKind)
            text.AppendLine($"  ... and {lines.Count - ListedPerKind} more");
    }
}
