using static TorchSharp.torch;

namespace QwenTune.Generation;

/// <summary>
/// Picks each sequence's next token from its last logits: the processors, then argmax (greedy) or one draw from
/// softmax (sampling) with this selector's own seeded generator, so a seed gives the same replies whatever else
/// in the process draws random numbers.
/// </summary>
public sealed class TokenSelector(GenerationConfig config, long seed, Device device)
{
    private readonly Generator _random = new((ulong)seed, device);

    public GenerationConfig Config => config;

    /// <param name="logits">(B, V) last-position logits, any dtype.</param>
    /// <param name="previous">(B, L) ids already in each sequence (for the repetition penalty), or null.</param>
    /// <param name="newTokens">Tokens generated so far in each sequence, for min_new_tokens.</param>
    /// <param name="eosTokenIds">The ids that end a reply, barred before min_new_tokens.</param>
    /// <returns>(B) int64 token ids.</returns>
    public Tensor Select(Tensor logits, Tensor? previous, int newTokens = 0, IReadOnlyCollection<int>? eosTokenIds = null)
    {
        using var scope = NewDisposeScope();
        var scores = LogitsProcessors.Apply(logits.to(ScalarType.Float32), previous, config, newTokens, eosTokenIds);
        var next = config.DoSample
            ? multinomial(scores.softmax(-1), 1, generator: _random).squeeze(1)
            : scores.argmax(-1);
        return next.MoveToOuterDisposeScope();
    }
}
