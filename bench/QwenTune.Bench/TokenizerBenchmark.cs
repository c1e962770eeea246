using System.Diagnostics;
using System.Text.RegularExpressions;
using QwenTune.Text;

namespace QwenTune.Bench;

/// <summary>
/// Single-threaded encode throughput of <see cref="QwenTokenizer"/> on a mixed corpus (see <see cref="TokenizerCorpus"/>),
/// cold (a freshly loaded tokenizer, first pass) and warm (the same tokenizer, second pass), plus load time, the
/// library's plain BpeTokenizer path and the pre-tokenizer against .NET Regex for comparison. Times are wall clock and
/// the benchmark thread's CPU time (the honest number on a shared machine).
/// Args: [tokenizer folder] (default: the qwen3 fixture).
/// </summary>
internal sealed class TokenizerBenchmark : IBenchmark
{
    public string Name => "tokenizer";

    public string Description => "QwenTokenizer load time and single-threaded encode tokens/s, cold and warm";

    public object Run(IReadOnlyList<string> args)
    {
        var repositoryRoot = FindRepositoryRoot();
        var fixturesRoot = Path.Combine(repositoryRoot, "tests", "fixtures");
        var directory = args.Count > 0 ? args[0] : Path.Combine(fixturesRoot, "tokenizers", "qwen3");

        var corpus = TokenizerCorpus.Build(repositoryRoot, fixturesRoot);

        // The first pass of the process pays for JIT compilation as well as empty caches; a second, freshly loaded
        // tokenizer then shows cold caches alone. Warm is the first tokenizer's second pass.
        var (first, firstLoad) = Load(directory);
        var coldFirstInProcess = EncodeAll(first, corpus);
        var warm = EncodeAll(first, corpus);
        var (second, secondLoad) = Load(directory);
        var cold = EncodeAll(second, corpus);
        var (_, thirdLoad) = Load(directory);
        // For comparison: the library's own path (BpeTokenizer.EncodeToIds with the same pre-tokenizer, its built-in
        // cache of 10,000 words up to 15 bytes) and the pre-tokenizer as a .NET Regex (which is also wrong on astral
        // letters and digits) against the hand-written scanner.
        var (library, _) = Load(directory);
        var libraryCold = Measure(corpus, text => library.Bpe.EncodeToIds(library.Normalize(text), considerPreTokenization: true, considerNormalization: false).Count);
        var libraryWarm = Measure(corpus, text => library.Bpe.EncodeToIds(library.Normalize(text), considerPreTokenization: true, considerNormalization: false).Count);
        var regex = new Regex(QwenPreTokenizer.Pattern, RegexOptions.Compiled | RegexOptions.CultureInvariant);
        Measure(corpus, text => regex.Count(text));
        var regexSplits = Measure(corpus, text => regex.Count(text));
        Measure(corpus, CountChunks);
        var scannerSplits = Measure(corpus, CountChunks);

        var warmByCategory = corpus.GroupBy(d => d.Category)
            .OrderBy(g => g.Key, StringComparer.Ordinal)
            .ToDictionary(g => g.Key, g => EncodeAll(first, g.ToList()));

        return new
        {
            tokenizer = directory,
            load = new[] { firstLoad, secondLoad, thirdLoad },
            corpus = new
            {
                documents = corpus.Count,
                chars = corpus.Sum(d => (long)d.Text.Length),
                utf8_bytes = corpus.Sum(d => (long)System.Text.Encoding.UTF8.GetByteCount(d.Text)),
                chars_by_category = corpus.GroupBy(d => d.Category).OrderBy(g => g.Key, StringComparer.Ordinal)
                    .ToDictionary(g => g.Key, g => g.Sum(d => (long)d.Text.Length)),
            },
            cold_first_in_process = coldFirstInProcess,
            cold,
            warm,
            warm_by_category = warmByCategory,
            library_bpe_path = new { cold = libraryCold, warm = libraryWarm },
            pre_tokenizer_splits = new { dotnet_regex = regexSplits, scanner = scannerSplits },
            target_tokens_per_s = 1_000_000,
        };
    }

    private static (QwenTokenizer Tokenizer, object Time) Load(string directory)
    {
        var cpuStart = ThreadCpuClock.Seconds();
        var stopwatch = Stopwatch.StartNew();
        var tokenizer = QwenTokenizer.FromDirectory(directory);
        var cpuMs = (ThreadCpuClock.Seconds() - cpuStart) * 1000;
        return (tokenizer, new { wall_ms = Math.Round(stopwatch.Elapsed.TotalMilliseconds, 1), thread_cpu_ms = cpuMs is double ms ? Math.Round(ms, 1) : (double?)null });
    }

    private static int CountChunks(string text)
    {
        var count = 0;
        for (var start = 0; start < text.Length; count++)
            start = QwenPreTokenizer.ChunkEnd(text, start);
        return count;
    }

    private static object EncodeAll(QwenTokenizer tokenizer, IReadOnlyList<TokenizerCorpus.Document> documents) =>
        Measure(documents, text => tokenizer.Encode(text).Length);

    /// <summary>Runs <paramref name="countTokens"/> over every document; "tokens" is the sum of what it returns.</summary>
    private static object Measure(IReadOnlyList<TokenizerCorpus.Document> documents, Func<string, int> countTokens)
    {
        long tokens = 0;
        var cpuStart = ThreadCpuClock.Seconds();
        var stopwatch = Stopwatch.StartNew();
        foreach (var document in documents)
            tokens += countTokens(document.Text);
        var seconds = stopwatch.Elapsed.TotalSeconds;
        var cpuSeconds = ThreadCpuClock.Seconds() - cpuStart;
        return new
        {
            tokens,
            wall_s = Math.Round(seconds, 3),
            tokens_per_s = Math.Round(tokens / seconds),
            thread_cpu_s = cpuSeconds is double cpu ? Math.Round(cpu, 3) : (double?)null,
            tokens_per_cpu_s = cpuSeconds is double c ? Math.Round(tokens / c) : (double?)null,
        };
    }

    private static string FindRepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "QwenTune.slnx")))
                return dir.FullName;
        }
        throw new InvalidOperationException("QwenTune.slnx not found above " + AppContext.BaseDirectory);
    }
}
