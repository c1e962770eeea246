using QwenTune.Checkpoints;
using QwenTune.Generation;
using QwenTune.Models;
using QwenTune.Peft;
using static TorchSharp.torch;

namespace QwenTune.Tests.Generation;

/// <summary>
/// KV-cached, batched, left-padded decoding against the plainest reference: each prompt alone, a full forward over
/// the whole growing sequence for every new token, argmax of the last position.
/// </summary>
public sealed class TextGeneratorTests
{
    private const int NewTokens = 32;

    private static readonly int[][] Prompts =
    [
        [151644, 872, 198, 9707, 11, 1246, 525, 498, 30, 151645, 198, 151644, 77091, 198],
        [40, 1075],
        [785, 3974, 13876, 38835, 34208, 916, 279],
    ];

    [SkippableTheory]
    [InlineData("tiny-qwen2", false, false)]
    [InlineData("tiny-qwen2", true, false)]
    [InlineData("tiny-qwen3", false, false)]
    [InlineData("tiny-qwen3", true, false)]
    [InlineData("tiny-qwen3", true, true)]
    public void Cached_batched_greedy_equals_argmax_of_full_forwards(string fixture, bool lora, bool nf4Base)
    {
        var model = PretrainedModel.Load(Fixtures.Model(fixture), ScalarType.Float32, CPU, new QwenModelOptions { QuantizeLinears = nf4Base });
        if (lora)
            AddTrainedLookingAdapter(model);
        var generator = new TextGenerator(model, eosTokenIds: [], padTokenId: 151643);
        var result = generator.Generate(Prompts, Greedy(NewTokens));
        for (var row = 0; row < Prompts.Length; row++)
        {
            Assert.Equal(ReferenceGreedy(model, Prompts[row], NewTokens), result.Sequences[row].Tokens);
            Assert.Equal(FinishReason.Length, result.Sequences[row].FinishReason);
        }
        Assert.Equal(NewTokens - 1, result.DecodeSteps);
    }

    [Fact]
    public void Eos_stops_its_sequence_and_leaves_the_others_unchanged()
    {
        var model = TinyModels.Create(TinyModels.Qwen2() with { InitializerRange = 0.5 });
        int[][] prompts = [[5, 17, 42], [9, 77, 3, 120, 8, 61]];
        var alone = prompts.Select(p => ReferenceGreedy(model, p, 12)).ToArray();
        // An eos that the first prompt's reply reaches after a few tokens.
        var stopAt = Enumerable.Range(3, 9).First(i => !alone[0].Take(i).Contains(alone[0][i]));
        var eos = alone[0][stopAt];
        var result = new TextGenerator(model, [eos], padTokenId: 0).Generate(prompts, Greedy(12));
        for (var row = 0; row < prompts.Length; row++)
        {
            var cut = alone[row].IndexOf(eos);
            Assert.Equal(cut < 0 ? alone[row] : alone[row].Take(cut).ToList(), result.Sequences[row].Tokens);
            Assert.Equal(cut < 0 ? FinishReason.Length : FinishReason.Stop, result.Sequences[row].FinishReason);
        }
        Assert.Equal(stopAt, result.Sequences[0].Tokens.Count);
    }

    [Fact]
    public void Min_new_tokens_carries_a_reply_past_its_eos()
    {
        var model = TinyModels.Create(TinyModels.Qwen2() with { InitializerRange = 0.5 });
        int[] prompt = [5, 17, 42];
        var alone = ReferenceGreedy(model, prompt, 12);
        var stopAt = Enumerable.Range(3, 9).First(i => !alone.Take(i).Contains(alone[i]));
        var eos = alone[stopAt];
        var selector = new TokenSelector(new GenerationConfig { MaxNewTokens = 12, MinNewTokens = stopAt + 2 }, seed: 0, CPU);
        var reply = new TextGenerator(model, [eos], padTokenId: 0).Generate([prompt], selector).Sequences[0];
        // The same tokens up to where eos would have ended it, then another token in its place.
        Assert.True(reply.Tokens.Count >= stopAt + 2, $"{reply.Tokens.Count} tokens");
        Assert.Equal(alone.Take(stopAt), reply.Tokens.Take(stopAt));
        Assert.DoesNotContain(eos, reply.Tokens.Take(stopAt + 2));
    }

    [Fact]
    public void Sampling_with_a_seed_is_reproducible_and_the_seed_matters()
    {
        var model = TinyModels.Create(TinyModels.Qwen3() with { InitializerRange = 0.2 });
        var config = new GenerationConfig { DoSample = true, Temperature = 1.3, TopK = 0, MaxNewTokens = 24 };
        int[][] prompts = [[1, 2, 3], [4, 5, 6, 7, 8]];
        IReadOnlyList<int>[] Run(long seed) =>
            [.. new TextGenerator(model, [], 0).Generate(prompts, new TokenSelector(config, seed, CPU)).Sequences.Select(s => s.Tokens)];
        var first = Run(7);
        Assert.Equal(first, Run(7));
        Assert.NotEqual(first, Run(8));
        // Sampling really samples: greedy decoding of the same prompts gives other tokens.
        Assert.NotEqual(first[1], ReferenceGreedy(model, prompts[1], 24));
    }

    [Fact]
    public void Cancellation_ends_the_batch_as_interrupted()
    {
        var model = TinyModels.Create(TinyModels.Qwen2());
        using var cancel = new CancellationTokenSource();
        var seen = 0;
        var result = new TextGenerator(model, [], 0).Generate([[1, 2, 3]], Greedy(50), (_, _) =>
        {
            if (++seen == 4)
                cancel.Cancel();
        }, cancel.Token);
        Assert.Equal(FinishReason.Interrupted, result.Sequences[0].FinishReason);
        Assert.Equal(4, result.Sequences[0].Tokens.Count);
    }

    [Fact]
    public void Cache_grows_past_its_first_chunk()
    {
        var model = TinyModels.Create(TinyModels.Qwen2() with { InitializerRange = 0.5 });
        var prompt = Enumerable.Range(0, (int)LayerKvCache.ChunkTokens - 3).Select(i => i % 290 + 1).ToArray();
        var result = new TextGenerator(model, [], 0).Generate([prompt], Greedy(8));
        Assert.Equal(ReferenceGreedy(model, prompt, 8), result.Sequences[0].Tokens);
    }

    private static TokenSelector Greedy(int maxNewTokens) => new(new GenerationConfig { MaxNewTokens = maxNewTokens }, seed: 0, CPU);

    /// <summary>Each step a full forward over prompt + tokens so far, unpadded, no cache.</summary>
    internal static List<int> ReferenceGreedy(QwenForCausalLM model, IReadOnlyList<int> prompt, int steps)
    {
        using var noGrad = no_grad();
        var ids = prompt.Select(i => (long)i).ToList();
        var generated = new List<int>();
        for (var step = 0; step < steps; step++)
        {
            using var scope = NewDisposeScope();
            var hidden = model.Hidden(tensor(ids.ToArray()).unsqueeze(0));                  // (1, T, C)
            var next = (int)model.Logits(hidden[0, -1]).argmax().item<long>();
            generated.Add(next);
            ids.Add(next);
        }
        return generated;
    }

    /// <summary>LoRA on every projection with B drawn at random (PEFT's B = 0 would leave the model unchanged).</summary>
    private static void AddTrainedLookingAdapter(QwenForCausalLM model)
    {
        var layers = LoraInjector.Apply(model, new LoraConfig { R = 4, Alpha = 8, Dropout = 0.1 }, seed: 3);
        using var noGrad = no_grad();
        var random = new TorchSharp.torch.Generator(11);
        foreach (var (_, layer) in layers)
            layer.LoraB!.weight!.normal_(0, 0.05, random);
    }
}
