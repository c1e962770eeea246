using QwenTune.Generation;
using static TorchSharp.torch;

namespace QwenTune.Tests.Generation;

/// <summary>Each processor on five logits, against values worked out by hand from Hugging Face's definitions.</summary>
public sealed class LogitsProcessorsTests
{
    private static readonly float[] Logits = [1, 2, 3, 4, -1];

    private static Tensor Scores(params float[] values) => tensor(values).unsqueeze(0);

    private static float[] Values(Tensor scores) => scores[0].data<float>().ToArray();

    [Fact]
    public void Repetition_penalty_divides_positive_and_multiplies_negative_seen_scores_once()
    {
        var result = LogitsProcessors.RepetitionPenalty(Scores(Logits), tensor(new long[] { 1, 4, 4, 1 }).unsqueeze(0), 2.0);
        Assert.Equal([1f, 1f, 3f, 4f, -2f], Values(result));
    }

    [Fact]
    public void Temperature_divides_the_scores()
    {
        Assert.Equal([2f, 4f, 6f, 8f, -2f], Values(LogitsProcessors.Temperature(Scores(Logits), 0.5)));
    }

    [Fact]
    public void Top_k_keeps_the_k_highest_and_their_ties()
    {
        var inf = float.NegativeInfinity;
        Assert.Equal([inf, inf, 3f, 4f, inf], Values(LogitsProcessors.TopK(Scores(Logits), 2)));
        Assert.Equal([inf, 3f, 3f, inf], Values(LogitsProcessors.TopK(Scores(1, 3, 3, 0), 1)));
        Assert.Equal(Logits, Values(LogitsProcessors.TopK(Scores(Logits), 50)));
    }

    [Theory]
    [InlineData(0.8)]
    [InlineData(0.9)]
    [InlineData(0.97)]
    [InlineData(0.5)]
    public void Top_p_keeps_the_smallest_most_likely_set_reaching_p(double topP)
    {
        // By hand: probabilities in descending order, taken until their sum reaches top_p.
        var probabilities = Softmax(Logits);
        var kept = new HashSet<int>();
        var sum = 0.0;
        foreach (var index in Enumerable.Range(0, Logits.Length).OrderByDescending(i => probabilities[i]))
        {
            kept.Add(index);
            sum += probabilities[index];
            if (sum >= topP)
                break;
        }
        var expected = Logits.Select((v, i) => kept.Contains(i) ? v : float.NegativeInfinity).ToArray();
        Assert.Equal(expected, Values(LogitsProcessors.TopP(Scores(Logits), topP)));
    }

    [Fact]
    public void Min_p_drops_tokens_below_min_p_times_the_top_probability()
    {
        // p = softmax(1, 2, 3, 4, -1) = 0.0319, 0.0868, 0.2360, 0.6416, 0.0043; 0.1 * 0.6416 = 0.064 keeps 2, 3 and 4.
        var inf = float.NegativeInfinity;
        Assert.Equal([inf, 2f, 3f, 4f, inf], Values(LogitsProcessors.MinP(Scores(Logits), 0.1)));
        // Above the top probability itself, the top token is still kept (min_tokens_to_keep = 1).
        Assert.Equal([inf, inf, inf, 4f, inf], Values(LogitsProcessors.MinP(Scores(Logits), 1.0)));
    }

    [Fact]
    public void Chain_runs_penalty_temperature_top_k_top_p_in_hugging_face_order()
    {
        var config = new GenerationConfig { DoSample = true, RepetitionPenalty = 2.0, Temperature = 0.5, TopK = 3, TopP = 0.9 };
        var result = Values(LogitsProcessors.Apply(Scores(Logits), tensor(new long[] { 3 }).unsqueeze(0), config));
        // Penalty: 4 -> 2, so (1, 2, 3, 2, -1); temperature: (2, 4, 6, 4, -2); top-3 keeps 6, 4, 4;
        // top-p 0.9 over softmax(6, 4, 4) = (0.787, 0.106, 0.106): 0.787 alone is short of 0.9, so all three stay.
        var inf = float.NegativeInfinity;
        Assert.Equal([inf, 4f, 6f, 4f, inf], result);
        // Greedy decoding applies the penalty only.
        var greedy = Values(LogitsProcessors.Apply(Scores(Logits), tensor(new long[] { 3 }).unsqueeze(0), config with { DoSample = false }));
        Assert.Equal([1f, 2f, 3f, 2f, -1f], greedy);
    }

    [Fact]
    public void Min_new_tokens_bars_the_eos_ids_until_the_reply_is_long_enough()
    {
        var config = new GenerationConfig { MinNewTokens = 2 };
        var inf = float.NegativeInfinity;
        int[] eos = [3, 0];
        Assert.Equal([inf, 2f, 3f, inf, -1f], Values(LogitsProcessors.Apply(Scores(Logits), null, config, newTokens: 1, eos)));
        Assert.Equal(Logits, Values(LogitsProcessors.Apply(Scores(Logits), null, config, newTokens: 2, eos)));
        // Greedy picks the best token that does not end the reply; sampling never draws a barred one.
        var selector = new TokenSelector(config, seed: 0, CPU);
        Assert.Equal(2L, selector.Select(Scores(Logits), null, newTokens: 0, eos).item<long>());
        var sampler = new TokenSelector(config with { DoSample = true, TopK = 0 }, seed: 1, CPU);
        var picks = sampler.Select(Scores(Logits).expand(2000, Logits.Length), null, newTokens: 0, eos).data<long>().ToArray();
        Assert.DoesNotContain(3L, picks);
        Assert.DoesNotContain(0L, picks);
    }

    [Fact]
    public void Samples_follow_the_tempered_distribution()
    {
        const int draws = 20000;
        var config = new GenerationConfig { DoSample = true, Temperature = 2.0, TopK = 0 };
        var selector = new TokenSelector(config, seed: 5, CPU);
        var picks = selector.Select(Scores(Logits).expand(draws, Logits.Length), previous: null).data<long>().ToArray();
        var expected = Softmax([.. Logits.Select(v => v / 2f)]);
        for (var token = 0; token < Logits.Length; token++)
        {
            var frequency = picks.Count(p => p == token) / (double)draws;
            Assert.InRange(frequency, expected[token] - 0.015, expected[token] + 0.015);
        }
    }

    private static double[] Softmax(float[] logits)
    {
        var exps = logits.Select(v => Math.Exp(v)).ToArray();
        return [.. exps.Select(e => e / exps.Sum())];
    }
}
