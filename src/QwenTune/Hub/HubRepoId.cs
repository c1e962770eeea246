using System.Text.RegularExpressions;

namespace QwenTune.Hub;

/// <summary>A model repository's id on the Hub, `org/name` or `name`, with the rules of huggingface_hub's validate_repo_id.</summary>
public sealed partial record HubRepoId(string Value)
{
    /// <summary>The cache folder huggingface_hub names after the repository: models--org--name.</summary>
    public string FolderName => "models--" + Value.Replace("/", "--", StringComparison.Ordinal);

    public override string ToString() => Value;

    /// <summary>Whether <paramref name="text"/> can be a Hub id (a path such as ./model or /data/model cannot).</summary>
    public static bool TryParse(string text, out HubRepoId id)
    {
        id = new HubRepoId(text);
        return text.Length <= 96 && RepoIdPattern().IsMatch(text)
            && !text.Contains("--", StringComparison.Ordinal) && !text.Contains("..", StringComparison.Ordinal)
            && !text.EndsWith(".git", StringComparison.Ordinal) && !text.StartsWith('.') && !text.StartsWith('-');
    }

    [GeneratedRegex(@"^(\b[\w\-.]+\b/)?\b[\w\-.]+\b$")]
    private static partial Regex RepoIdPattern();
}
