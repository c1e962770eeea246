using System.Diagnostics;
using QwenTune.Models;
using QwenTune.Runtime;
using static TorchSharp.torch;

namespace QwenTune.Generation;

/// <summary>
/// Incremental decoding with a KV cache, as Hugging Face's generate does it: prompts left-padded to one batch, one
/// prefill pass over them, then one pass per new token over the batch's last tokens. Positions count real tokens,
/// as in training, so a padded prompt decodes exactly as it would alone. A finished sequence keeps being fed
/// padding until the whole batch is done (HF's unfinished_sequences), which changes nothing for the others.
/// </summary>
public sealed class TextGenerator
{
    private readonly QwenForCausalLM _model;
    private readonly HashSet<int> _eosTokenIds;
    private readonly int _padTokenId;

    public TextGenerator(QwenForCausalLM model, IEnumerable<int> eosTokenIds, int padTokenId)
    {
        _model = model;
        _eosTokenIds = [.. eosTokenIds];
        _padTokenId = padTokenId;
    }

    public IReadOnlySet<int> EosTokenIds => _eosTokenIds;

    /// <summary>
    /// A generator for a loaded model folder: it stops at generation_config.json's eos ids and at the tokenizer's
    /// eos, &lt;|im_end|&gt; and &lt;|endoftext|&gt; (a base model's generation_config names only &lt;|endoftext|&gt;, but a
    /// chat fine-tune ends its replies with &lt;|im_end|&gt;: the model that never stops, QwenLM/Qwen3#198), and pads
    /// with generation_config's pad id, else the tokenizer's.
    /// </summary>
    public static TextGenerator For(LoadedModel loaded, GenerationConfig config)
    {
        var tokenizer = loaded.Tokenizer;
        var stops = new List<int>(config.EosTokenIds) { tokenizer.EosTokenId };
        foreach (var name in (string[])["<|im_end|>", "<|endoftext|>"])
        {
            if (tokenizer.TokenToId(name) is { } id)
                stops.Add(id);
        }
        return new TextGenerator(loaded.Model, stops, config.PadTokenId ?? loaded.PadTokenId);
    }

    /// <param name="onToken">Called with (prompt index, token) for each new token of an unfinished sequence, eos excluded.</param>
    /// <param name="cancellation">Checked before each step; a cancelled batch ends with <see cref="FinishReason.Interrupted"/>.</param>
    public GenerationResult Generate(IReadOnlyList<IReadOnlyList<int>> prompts, TokenSelector selector,
        Action<int, int>? onToken = null, CancellationToken cancellation = default)
    {
        if (prompts.Count == 0 || prompts.Any(p => p.Count == 0))
            throw new QwenTuneException("every prompt needs at least one token.");
        _model.eval();
        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        using var cache = new KvCache(_model.Model.Layers.Count);
        var batch = prompts.Count;
        var width = prompts.Max(p => p.Count);
        var device = _model.Device;
        var (promptIds, promptValid) = LeftPad(prompts, width, device);                            // (B, P) each
        var generated = prompts.Select(_ => new List<int>()).ToArray();
        var reasons = new FinishReason?[batch];
        var realTokens = prompts.Select(p => (long)p.Count).ToArray();

        var clock = Stopwatch.StartNew();
        var inputIds = promptIds;
        var positions = (promptValid.to(ScalarType.Int64).cumsum(-1) - 1).clamp_min(0);          // (B, P)
        var mask = PrefillMask(promptValid);                                                       // (B, 1, P, P)
        var (prefillSeconds, steps) = (0.0, 0);
        while (true)
        {
            using var stepScope = NewDisposeScope();
            var hidden = _model.Model.ForwardCached(inputIds, positions, mask, cache);             // (B, T, C)
            var logits = _model.Logits(hidden.narrow(1, hidden.shape[1] - 1, 1)).squeeze(1);        // (B, V)
            var next = selector.Select(logits, PreviousTokens(prompts, generated, selector.Config, device), steps, _eosTokenIds);
            var nextIds = next.cpu().data<long>().ToArray();
            if (steps == 0)
                prefillSeconds = clock.Elapsed.TotalSeconds;
            steps++;
            for (var row = 0; row < batch; row++)
                Record(row, (int)nextIds[row], generated, reasons, selector.Config.MaxNewTokens, onToken);
            if (reasons.All(r => r is not null))
                break;
            if (cancellation.IsCancellationRequested)
            {
                for (var row = 0; row < batch; row++)
                    reasons[row] ??= FinishReason.Interrupted;
                break;
            }
            var previous = (inputIds, positions, mask);
            var fed = Enumerable.Range(0, batch).Select(row => reasons[row] is null ? nextIds[row] : _padTokenId).ToArray();
            (inputIds, positions, mask) = DecodeInputs(fed, realTokens, promptValid, cache.Length);
            for (var row = 0; row < batch; row++)
                realTokens[row]++;
            previous.inputIds.Dispose();
            previous.positions.Dispose();
            previous.mask.Dispose();
        }
        inputIds.Dispose();
        positions.Dispose();
        mask.Dispose();
        var sequences = generated.Select((tokens, row) => new GeneratedSequence(tokens, reasons[row]!.Value)).ToList();
        var total = clock.Elapsed.TotalSeconds;
        return new GenerationResult(sequences, prompts.Sum(p => p.Count), prefillSeconds, steps - 1, total - prefillSeconds);
    }

    /// <summary>
    /// The next step's (B, 1) ids at (B, 1) positions, and its (B, 1, 1, past + 1) mask: the new query sees every real
    /// prompt token and everything generated since, its own key included. They outlive the step that makes them, so
    /// they belong to no dispose scope: the loop disposes each set when the next replaces it.
    /// </summary>
    private static (Tensor Ids, Tensor Positions, Tensor Mask) DecodeInputs(long[] fed, long[] positions, Tensor promptValid, long past)
    {
        using var scope = NewDisposeScope();
        var (batch, device) = (fed.Length, promptValid.device);
        var keyValid = cat([promptValid, ones(batch, past + 1 - promptValid.shape[1], ScalarType.Bool, device)], 1);
        return (tensor(fed, device: device).view(batch, 1).DetachFromDisposeScope(),
            tensor(positions, device: device).view(batch, 1).DetachFromDisposeScope(),
            keyValid.view(batch, 1, 1, past + 1).DetachFromDisposeScope());
    }

    private void Record(int row, int token, List<int>[] generated, FinishReason?[] reasons, int maxNewTokens, Action<int, int>? onToken)
    {
        if (reasons[row] is not null)
            return;
        if (_eosTokenIds.Contains(token))
        {
            reasons[row] = FinishReason.Stop;
            return;
        }
        generated[row].Add(token);
        onToken?.Invoke(row, token);
        if (generated[row].Count >= maxNewTokens)
            reasons[row] = FinishReason.Length;
    }

    private (Tensor Ids, Tensor Valid) LeftPad(IReadOnlyList<IReadOnlyList<int>> prompts, int width, Device device)
    {
        var ids = new long[prompts.Count * width];
        var valid = new bool[prompts.Count * width];
        for (var row = 0; row < prompts.Count; row++)
        {
            var offset = row * width + width - prompts[row].Count;
            Array.Fill(ids, _padTokenId, row * width, width - prompts[row].Count);
            for (var i = 0; i < prompts[row].Count; i++)
            {
                ids[offset + i] = prompts[row][i];
                valid[offset + i] = true;
            }
        }
        return (tensor(ids, device: device).view(prompts.Count, width), tensor(valid, device: device).view(prompts.Count, width));
    }

    /// <summary>
    /// (B, 1, P, P): causal, and only real keys; each query may always see itself so that a padding row is never
    /// all-false (SDPA would return NaN there, and NaN would spread through the cache).
    /// </summary>
    private static Tensor PrefillMask(Tensor valid)
    {
        var width = valid.shape[1];
        var causal = ones(width, width, ScalarType.Bool, valid.device).tril();                    // (P, P)
        var mask = (causal.unsqueeze(0) & valid.unsqueeze(1)) | eye(width, width, ScalarType.Bool, valid.device).unsqueeze(0);
        return mask.unsqueeze(1);
    }

    /// <summary>
    /// (B, L) prompt and generated ids for the repetition penalty, or null when there is none. Rows are evened out by
    /// repeating their own last id, which penalises nothing twice: padding is not penalised (HF penalises the pad id
    /// of a left-padded row, which then differs from the same prompt alone).
    /// </summary>
    private static Tensor? PreviousTokens(IReadOnlyList<IReadOnlyList<int>> prompts, List<int>[] generated, GenerationConfig config, Device device)
    {
        if (config.RepetitionPenalty == 1.0)
            return null;
        var rows = prompts.Select((p, row) => p.Concat(generated[row]).ToArray()).ToArray();
        var width = rows.Max(r => r.Length);
        var ids = new long[rows.Length * width];
        for (var row = 0; row < rows.Length; row++)
        {
            for (var i = 0; i < width; i++)
                ids[row * width + i] = rows[row][Math.Min(i, rows[row].Length - 1)];
        }
        return tensor(ids, device: device).view(rows.Length, width);
    }
}
