using QwenTune.Planning;

namespace QwenTune.Tests.Planning;

/// <summary>
/// The estimator's parts for the tiny Qwen2 config (hidden C 32, intermediate I 64, 2 layers, Q = 4 heads x 8 = 32,
/// vocab 300, tied; 28,320 parameters) against numbers worked out by hand from the tensors each module keeps.
/// </summary>
public sealed class MemoryEstimatorTests
{
    private const long Parameters = 28320;

    private static TrainingShape Shape(TuningMode mode = TuningMode.Full, int bytes = 4) => new()
    {
        Config = TinyModels.Qwen2(), Mode = mode, ElementBytes = bytes, MicroBatchSize = 2, SequenceLength = 8, LoraRank = 4,
    };

    [Fact]
    public void Full_float32_one_process_keeps_weights_gradients_and_two_moments()
    {
        var estimate = MemoryEstimator.Estimate(Shape());
        Assert.Equal(4 * Parameters, estimate.Weights);
        Assert.Equal(4 * Parameters, estimate.Gradients);
        Assert.Equal(8 * Parameters, estimate.OptimizerState);   // float32 weights are their own masters
        Assert.Equal(Parameters, estimate.TrainableParameters);
    }

    [Fact]
    public void Bf16_adds_float32_masters_and_halves_weights()
    {
        var estimate = MemoryEstimator.Estimate(Shape(bytes: 2));
        Assert.Equal(2 * Parameters, estimate.Weights);
        Assert.Equal(2 * Parameters, estimate.Gradients);
        Assert.Equal(12 * Parameters, estimate.OptimizerState);
    }

    [Fact]
    public void Zero_stages_divide_optimizer_state_by_the_ranks()
    {
        // ZeroUpdater keeps a float32 master, two moments and a float32 gradient of its shard: ceil(28320 / 4) = 7080.
        var stage1 = MemoryEstimator.Estimate(Shape() with { WorldSize = 4, ZeroStage = 1 });
        Assert.Equal(12 * 7080, stage1.OptimizerState);
        Assert.Equal(4 * 7080 + 4 * Parameters, stage1.Gradients);   // full float32 gradients until the all-reduce
        var stage0 = MemoryEstimator.Estimate(Shape() with { WorldSize = 4, ZeroStage = 0 });
        Assert.Equal(12 * Parameters, stage0.OptimizerState);
    }

    [Fact]
    public void Zero3_shards_the_large_layer_tensors_and_gathers_one_layer()
    {
        // Threshold 1000: per layer q (1024), o (1024) and the three MLP weights (2048 each) = 8192 elements are sharded;
        // k, v (512) and every bias and norm stay whole. bf16 over 4 ranks: each layer keeps 8192 / 4 of them in its own
        // dtype; one layer is whole while it runs.
        var shape = Shape(bytes: 2) with { WorldSize = 4, ZeroStage = 3, PersistenceThreshold = 1000 };
        var estimate = MemoryEstimator.Estimate(shape);
        var resident = 2 * Parameters - 2 * (2 * 8192 - 2 * 2048);
        Assert.Equal(resident + 2 * 8192, estimate.Weights);
    }

    [Fact]
    public void Lora_trains_float32_adapters_only()
    {
        // 2 layers x 2048 adapter parameters (r 4 on all seven projections), float32 whatever the base dtype.
        var estimate = MemoryEstimator.Estimate(Shape(TuningMode.Lora, bytes: 2));
        Assert.Equal(4096, estimate.TrainableParameters);
        Assert.Equal(4 * 4096, estimate.Gradients);
        Assert.Equal(8 * 4096, estimate.OptimizerState);   // adapters are float32: no masters
        Assert.Equal(2 * Parameters + 4 * 4096, estimate.Weights);
    }

    [Fact]
    public void Qlora_weights_are_nf4_projections_float32_norms_and_dense_embeddings()
    {
        var estimate = MemoryEstimator.Estimate(Shape(TuningMode.QLora, bytes: 2));
        // NF4 bytes of a 1024-element projection: 16 blocks -> 512 code bytes + 16 absmax codes + 1 group scale (4) + offset (4).
        var nf4 = 2 * ParameterCounts.Nf4Bytes(1024) + 2 * ParameterCounts.Nf4Bytes(512) + 3 * ParameterCounts.Nf4Bytes(2048);
        Assert.Equal(536, ParameterCounts.Nf4Bytes(1024));
        var perLayer = nf4 + 2 * (32 + 16 + 16) + 4 * 64;   // bf16 q/k/v biases, float32 norms
        Assert.Equal(2 * perLayer + 2 * 9600 + 4 * 32 + 4 * 4096, estimate.Weights);
    }

    [Fact]
    public void Layer_activations_list_the_tensors_autograd_keeps()
    {
        const long n = 16, c = 32, q = 32, i = 64;   // 2 x 8 tokens
        // Full float32: per norm its input, the normalised values and the output the projections read (3 of N x C, twice);
        // q, k and v repeated to 4 heads, SDPA's output and o_proj's input (5 of N x Q); gate, silu(gate), up and
        // down_proj's input (4 of N x I).
        var full = 4 * (6 * n * c + 5 * n * q + 4 * n * i);
        Assert.Equal(full, MemoryEstimator.LayerActivations(Shape(), new ParameterCounts(TinyModels.Qwen2())));
        // bf16: the norms keep a float32 copy (4 bytes) plus two bf16 tensors; the rest is halved.
        var bf16 = 2 * n * c * (4 + 2 + 2) + 2 * (5 * n * q + 4 * n * i);
        Assert.Equal(bf16, MemoryEstimator.LayerActivations(Shape(bytes: 2), new ParameterCounts(TinyModels.Qwen2())));
        // LoRA float32, dropout 0.05, r 4: the norms keep only their float32 input; SDPA 4 of N x Q; gate, silu, up; each of
        // the 7 adapters the dropped input over its fan-in (the mask is recomputed in backward), and the (N, 4) product.
        var fanIns = 5 * c + q + i;   // q, k, v, gate, up read C; o reads Q; down reads I
        var lora = 2 * n * c * 4 + 4 * 4 * n * q + 3 * 4 * n * i + n * fanIns * 4 + 7 * 4 * n * 4;
        Assert.Equal(lora, MemoryEstimator.LayerActivations(Shape(TuningMode.Lora), new ParameterCounts(TinyModels.Qwen2())));
    }

    [Fact]
    public void Checkpointing_keeps_two_hidden_states_a_layer_and_recomputes_one()
    {
        var plain = MemoryEstimator.Estimate(Shape());
        var checkpointed = MemoryEstimator.Estimate(Shape() with { GradientCheckpointing = true });
        // The layer's input and TorchSharp's placeholder for its output, (N, C) each.
        Assert.Equal(2 * 4 * 16 * 32, checkpointed.CheckpointedPerLayer);
        // 2 layers: the saved tensors of one layer are replaced by 2 kept hidden states each, one layer recomputed.
        Assert.Equal(plain.Activations - 2 * plain.ActivationsPerLayer + 2 * checkpointed.CheckpointedPerLayer + plain.ActivationsPerLayer,
            checkpointed.Activations);
    }

    [Fact]
    public void Loss_head_works_in_vocabulary_blocks()
    {
        // 16 rows: one block of the whole vocabulary (300), kept for backward. float32: the block's logits, the float32 input
        // gradient, a product and the cast input gradient (N x C each), the weight gradient slice.
        var expected = 16 * 300 * 4 + 4 * 16 * 32 + 2 * 4 * 16 * 32 + 4 * 300 * 32;
        Assert.Equal(expected, MemoryEstimator.LossHeadWorking(Shape()));
    }

    [Fact]
    public void Loss_head_counts_the_kept_logits_up_to_their_budget_and_one_scratch_block()
    {
        // Qwen's vocabulary at 300 rows: 4 MiB blocks of 3072 rows (6 slices of 512), 50 blocks, all kept (175 MiB).
        var qwen = TinyModels.Qwen2() with { VocabSize = 151_936 };
        var shape = Shape() with { Config = qwen, MicroBatchSize = 1, SequenceLength = 300 };
        var head = 4 * 300 * 32 + 2 * 4 * 300 * 32 + 4 * 3072 * 32;
        Assert.Equal(4L * 300 * 3072 * 50 + head, MemoryEstimator.LossHeadWorking(shape));
        // 4096 rows: blocks of at least two slices (1024 rows, 16 MiB), 149 of them; the 512 MiB budget keeps 32, and one
        // more is scratch.
        var many = shape with { SequenceLength = 4096 };
        var manyHead = 4 * 4096 * 32 + 2 * 4 * 4096 * 32 + 4 * 1024 * 32;
        Assert.Equal(33L * 4 * 4096 * 1024 + manyHead, MemoryEstimator.LossHeadWorking(many));
    }

    [Fact]
    public void Step_flops_are_six_per_weight_and_token_plus_attention_and_the_head()
    {
        // Projection weights a layer: 1024 + 512 + 512 + 1024 + 3 * 2048 = 9216; 16 tokens; 2 layers.
        const long budget = 512L << 20;
        var flops = StepFlops.For(Shape(), budget);
        Assert.Equal(6.0 * 2 * 9216 * 16, flops.Layers);
        Assert.Equal(3 * 2.0 * 2 * 8 * 8 * 32 * 2, flops.Attention);   // forward 2 B T^2 Q a layer, backward twice that
        Assert.Equal(6.0 * 9600 * 16, flops.Head);   // the head's logits blocks fit the kept budget: not recomputed
        var checkpointed = StepFlops.For(Shape() with { GradientCheckpointing = true }, budget);
        Assert.Equal(8.0 * 2 * 9216 * 16, checkpointed.Layers);
        var lora = StepFlops.For(Shape(TuningMode.Lora), budget);
        Assert.Equal((4.0 * 2 * 9216 + 6.0 * 4096) * 16, lora.Layers);   // frozen base: no weight gradients
        Assert.Equal(4.0 * 9600 * 16, lora.Head);   // frozen head: logits and the input gradient
        // A budget of a quarter of the logits: three quarters recomputed, 2 more FLOPs per head weight and token for them.
        Assert.Equal((6.0 + 2 * 0.75) * 9600 * 16, StepFlops.For(Shape(), keptLogitsBytes: 4L * 16 * 300 / 4).Head);
    }
}
