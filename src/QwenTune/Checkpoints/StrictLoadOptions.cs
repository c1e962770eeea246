using System.Text.RegularExpressions;

namespace QwenTune.Checkpoints;

/// <summary>
/// Exceptions to strict loading. Patterns are state-dict keys where <c>*</c> matches any run of characters
/// (<c>*.rotary_emb.inv_freq</c>). <see cref="AllowedMissing"/>: model keys the checkpoint may lack (e.g.
/// <c>lm_head.weight</c> when embeddings are tied); <see cref="Ignored"/>: keys skipped on both sides.
/// </summary>
public sealed record StrictLoadOptions
{
    public static StrictLoadOptions Default { get; } = new();

    public IReadOnlyList<string> AllowedMissing { get; init; } = [];

    public IReadOnlyList<string> Ignored { get; init; } = [];

    internal static Func<string, bool> Matcher(IReadOnlyList<string> patterns)
    {
        if (patterns.Count == 0)
            return _ => false;
        var alternatives = patterns.Select(p => "^" + Regex.Escape(p).Replace("\\*", ".*", StringComparison.Ordinal) + "$");
        var regex = new Regex(string.Join("|", alternatives), RegexOptions.CultureInvariant);
        return regex.IsMatch;
    }
}
