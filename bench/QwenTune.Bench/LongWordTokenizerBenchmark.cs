using System.Diagnostics;
using QwenTune.Text;

namespace QwenTune.Bench;

/// <summary>
/// Encode time of one long pre-token ("ab" repeated, the campaign's case) through <see cref="QwenTokenizer.Encode"/>,
/// at 100k, 1M and 5M characters, to show the time grows about linearly. With <c>--library-up-to N</c> the library's
/// own BpeTokenizer path (quadratic in the word's length, what Encode did before) is timed too for lengths up to N
/// (1,000,000 takes minutes).
/// Args: [--library-up-to N] [tokenizer folder] (default: the qwen3 fixture).
/// </summary>
internal sealed class LongWordTokenizerBenchmark : IBenchmark
{
    private static readonly int[] Lengths = [100_000, 1_000_000, 5_000_000];

    public string Name => "tokenizer-long-word";

    public string Description => "QwenTokenizer encode time of one 100k/1M/5M-character word (and the library path's, optionally)";

    public object Run(IReadOnlyList<string> args)
    {
        var libraryUpTo = 0;
        var rest = args.ToList();
        var flag = rest.IndexOf("--library-up-to");
        if (flag >= 0)
        {
            libraryUpTo = int.Parse(rest[flag + 1], System.Globalization.CultureInfo.InvariantCulture);
            rest.RemoveRange(flag, 2);
        }
        var directory = rest.Count > 0 ? rest[0] : Path.Combine(RepositoryPaths.Root, "tests", "fixtures", "tokenizers", "qwen3");
        var tokenizer = QwenTokenizer.FromDirectory(directory);
        tokenizer.Encode("warm up " + string.Concat(Enumerable.Repeat("ab", 1_000)));

        var rows = new List<object>();
        foreach (var length in Lengths)
        {
            var word = string.Concat(Enumerable.Repeat("ab", length / 2));
            var (tokens, seconds) = Time(() => tokenizer.Encode(word).Length);
            var (libraryTokens, librarySeconds) = length <= libraryUpTo
                ? Time(() => tokenizer.Bpe.EncodeToIds(word, considerPreTokenization: true, considerNormalization: false).Count)
                : (0, double.NaN);
            rows.Add(new
            {
                chars = length,
                tokens,
                encode_s = Math.Round(seconds, 3),
                library_path_s = double.IsNaN(librarySeconds) ? (double?)null : Math.Round(librarySeconds, 3),
                library_path_same_count = double.IsNaN(librarySeconds) ? (bool?)null : libraryTokens == tokens,
            });
        }
        return new { tokenizer = directory, words = rows };
    }

    private static (int Tokens, double Seconds) Time(Func<int> encode)
    {
        var stopwatch = Stopwatch.StartNew();
        var tokens = encode();
        return (tokens, stopwatch.Elapsed.TotalSeconds);
    }
}
