using QwenTune.Data;
using QwenTune.Models;
using QwenTune.Training;
using static TorchSharp.torch;

namespace QwenTune.Tests.Training;

/// <summary>--packing: the same loss, gradients and trajectory as the samples unpacked.</summary>
public sealed class PackingTests
{
    /// <summary>Samples of random ids and lengths; a random prompt prefix of each is unlabelled.</summary>
    private static List<SftExample> RandomExamples(int count, int vocab, int seed, int shortest = 3, int longest = 13)
    {
        var random = new Random(seed);
        return Enumerable.Range(0, count).Select(_ =>
        {
            var ids = Enumerable.Range(0, random.Next(shortest, longest + 1)).Select(_ => random.Next(1, vocab)).ToArray();
            var prompt = random.Next(0, ids.Length - 1);
            return new SftExample(ids, ids.Select((id, t) => t < prompt ? -100 : id).ToArray(), "", new SampleLocation("t.jsonl", 1));
        }).ToList();
    }

    /// <summary>Token-weighted mean NLL over the batches, and the gradient of every parameter.</summary>
    private static (double Loss, Dictionary<string, Tensor> Gradients) LossAndGradients(QwenForCausalLM model, IReadOnlyList<Batch> batches)
    {
        model.zero_grad();
        var targets = batches.Sum(b => b.TargetCount);
        double loss = 0;
        foreach (var batch in batches)
        {
            var hidden = model.Hidden(batch.InputIds, batch.AttentionMask, batch.PositionIds);
            var (nll, count) = CausalLmLoss.NllSum(hidden, batch.Labels, model.LmHeadWeight);
            Assert.Equal(batch.TargetCount, count);
            (nll / targets).backward();
            loss += nll.item<float>() / targets;
        }
        return (loss, model.named_parameters().ToDictionary(p => p.name, p => p.parameter.grad!.clone()));
    }

    /// <summary>Rows of 24 tokens attend through a block mask, rows of 480 (384 and longer) through a causal attention per sample.</summary>
    [Theory]
    [InlineData("qwen2", 24, 3, 13)]
    [InlineData("qwen3", 24, 3, 13)]
    [InlineData("qwen2", 480, 100, 200)]
    public void Packed_loss_and_gradients_equal_the_samples_run_one_by_one(string type, int capacity, int shortest, int longest)
    {
        var model = TinyModels.Create(type == "qwen2" ? TinyModels.Qwen2() : TinyModels.Qwen3());
        var examples = RandomExamples(9, vocab: 300, seed: 5, shortest, longest);
        var collator = new Collator(padTokenId: 0);
        // The reference: each sample its own batch of one, no padding, no mask, positions 0..n-1.
        var (expectedLoss, expectedGradients) = LossAndGradients(model, examples.Select(e => collator.Collate([e])).ToList());
        var packed = new PackedSftDataset(new EagerSftDataset(examples), capacity);
        Assert.InRange(packed.Count, 2, 6);
        // Two rows a batch, so batches also carry padding after a row's last sample.
        var rows = Enumerable.Range(0, packed.Count).Select(i => packed.Get(i)!).ToList();
        var batches = rows.Chunk(2).Select(chunk => collator.Collate(chunk)).ToList();
        // Each case takes the path it names: all its batches shorter than 384 tokens, or one at least that long.
        Assert.Equal(capacity >= 384, batches.Any(b => b.InputIds.shape[1] >= 384));
        var (loss, gradients) = LossAndGradients(model, batches);

        Assert.Equal(expectedLoss, loss, 1e-5 * expectedLoss);
        foreach (var (name, expected) in expectedGradients)
        {
            var difference = (gradients[name] - expected).abs().max().item<float>();
            Assert.True(gradients[name].allclose(expected, rtol: 1e-5, atol: 1e-5 * expected.abs().max().item<float>()),
                $"{name}: packed gradient differs by {difference}");
        }
    }

    [Fact]
    public void Data_parallel_ranks_draw_disjoint_packed_rows_covering_the_epoch()
    {
        var packed = new PackedSftDataset(new EagerSftDataset(RandomExamples(40, vocab: 300, seed: 2)), capacity: 24);
        var plan = new TrainingPlan((packed.Count + 1) / 2, BatchSize: 2, AccumulationSteps: 1, StepsPerEpoch: (packed.Count + 3) / 4, TotalSteps: 1);
        var seen = new List<string>();
        for (var rank = 0; rank < 2; rank++)
        {
            var source = new MicroBatchSource(packed, plan, new Collator(0), groupByLength: true, seed: 3, rank, worldSize: 2);
            for (var step = 0; step < plan.StepsPerEpoch; step++)
            {
                foreach (var batch in source.ForStep(step).Where(b => !b.IsPlaceholder))
                {
                    for (var row = 0; row < batch.Size; row++)
                        seen.Add(string.Join(",", batch.InputIds[row].data<long>().Where(id => id != 0)));
                    batch.Dispose();
                }
            }
        }
        var expected = Enumerable.Range(0, packed.Count).Select(i => string.Join(",", packed.Get(i)!.InputIds)).Order();
        Assert.Equal(expected, seen.Order());
    }

    [Fact]
    public void Packed_run_resumed_from_a_checkpoint_continues_the_same_trajectory()
    {
        using var fixture = new TrainingFixture(samples: 16);
        string[] packing = ["--packing", "True", "--model_max_length", "96", "--group_by_length", "True", "--max_steps", "4",
                            "--per_device_train_batch_size", "1", "--gradient_accumulation_steps", "1", "--save_strategy", "steps", "--save_steps", "2"];
        var uninterrupted = fixture.Output("straight");
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, uninterrupted), .. packing]);
        var resumed = fixture.Output("resumed");
        Directory.CreateDirectory(resumed);
        TrainingSessionTests.CopyFolder(Path.Combine(uninterrupted, "checkpoint-2"), Path.Combine(resumed, "checkpoint-2"));
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, resumed), .. packing]);

        Assert.Equal(TrainingRuns.LoggedLosses(uninterrupted), TrainingRuns.LoggedLosses(resumed));
        Assert.Equal(4, TrainingRuns.LoggedLosses(resumed).Count);
        var expected = TrainingRuns.Weights(uninterrupted);
        var actual = TrainingRuns.Weights(resumed);
        foreach (var (name, tensor) in expected)
            Assert.True(tensor.eq(actual[name]).all().item<bool>(), $"{name} differs after resume");
    }

    [Fact]
    public void One_packed_step_over_all_samples_equals_the_unpacked_step()
    {
        using var fixture = new TrainingFixture(samples: 12);
        string[] oneStep = ["--max_steps", "1", "--per_device_train_batch_size", "12", "--model_max_length", "128"];
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, fixture.Output("plain")), .. oneStep]);
        TrainingRuns.Train([.. TrainingRuns.Common(fixture, fixture.Output("packed")), .. oneStep, "--packing", "True"]);
        var (plain, packed) = (TrainingRuns.LoggedRows(fixture.Output("plain"))[0], TrainingRuns.LoggedRows(fixture.Output("packed"))[0]);
        Assert.Equal(plain.Loss, packed.Loss, 1e-5 * plain.Loss);
        Assert.Equal(plain.GradNorm, packed.GradNorm, 1e-4 * plain.GradNorm);
        var expected = TrainingRuns.Weights(fixture.Output("plain"));
        foreach (var (name, tensor) in TrainingRuns.Weights(fixture.Output("packed")))
            Assert.True(tensor.allclose(expected[name], rtol: 1e-4, atol: 2e-5), $"{name} differs after the packed step");
    }
}
