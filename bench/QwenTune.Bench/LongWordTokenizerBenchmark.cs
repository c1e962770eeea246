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
            var (ids, seconds, cpuSeconds) = Time(() => tokenizer.Encode(word));
            var library = length <= libraryUpTo
                ? Time(() => tokenizer.Bpe.EncodeToIds(word, considerPreTokenization: true, considerNormalization: false).ToArray())
                : default;
            rows.Add(new
            {
                chars = length,
                tokens = ids.Length,
                encode_wall_s = Math.Round(seconds, 3),
                encode_thread_cpu_s = cpuSeconds,
                library_path_wall_s = library.Ids is null ? (double?)null : Math.Round(library.Seconds, 3),
                library_path_thread_cpu_s = library.CpuSeconds,
                library_path_same_ids = library.Ids is null ? (bool?)null : library.Ids.SequenceEqual(ids),
            });
        }
        return new { tokenizer = directory, words = rows };
    }

    /// <summary>Wall time and this thread's CPU time (the honest number on a shared machine).</summary>
    private static (int[] Ids, double Seconds, double? CpuSeconds) Time(Func<int[]> encode)
    {
        var cpuStart = ThreadCpuClock.Seconds();
        var stopwatch = Stopwatch.StartNew();
        var ids = encode();
        var cpu = ThreadCpuClock.Seconds() - cpuStart;
        return (ids, stopwatch.Elapsed.TotalSeconds, cpu is double c ? Math.Round(c, 3) : null);
    }
}
