using QwenTune.Training;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Tests.Training;

public sealed class FusedLinearCrossEntropyTests
{
    /// <summary>Against libtorch's own cross_entropy on materialised float32 logits (the reference).</summary>
    [Theory]
    [InlineData(ScalarType.Float32, 7, 5000, 1e-5, false)]     // several vocabulary blocks (blocks are >= 1024 wide)
    [InlineData(ScalarType.Float32, 3000, 1500, 1e-5, false)]  // many rows: blocks shrink to the 1024 minimum
    [InlineData(ScalarType.BFloat16, 9, 4100, 2e-2, false)]
    [InlineData(ScalarType.Float32, 7, 5000, 1e-5, true)]      // ThreadedHead: per-thread shares of the vocabulary
    [InlineData(ScalarType.Float32, 3000, 1500, 1e-5, true)]   // ... with sub-blocks of 16 rows
    [InlineData(ScalarType.BFloat16, 9, 4100, 2e-2, true)]     // ... bf16 on widened products (on CPUs without fast bf16)
    public void Loss_and_gradients_match_cross_entropy_on_full_logits(ScalarType dtype, int rows, int vocabulary, double tolerance, bool threaded) =>
        OnPath(threaded, () => MatchesCrossEntropy(dtype, rows, vocabulary, tolerance));

    private static void MatchesCrossEntropy(ScalarType dtype, int rows, int vocabulary, double tolerance)
    {
        var generator = new Generator(5);
        var x1 = randn([rows, 16], generator: generator).to(dtype).requires_grad_(true);
        var w1 = (randn([vocabulary, 16], generator: generator) * 0.5).to(dtype).requires_grad_(true);
        var targets = randint(0, vocabulary, [rows], generator: generator);
        targets[0] = tensor(vocabulary - 1L);   // the last column of the last block
        var x2 = x1.detach().clone().requires_grad_(true);
        var w2 = w1.detach().clone().requires_grad_(true);

        var fused = FusedLinearCrossEntropy.NllSum(x1, w1, targets);
        var reference = nn.functional.cross_entropy(nn.functional.linear(x2, w2).to(ScalarType.Float32), targets, reduction: nn.Reduction.Sum);
        (fused * 0.5).backward();
        (reference * 0.5).backward();

        Assert.Equal(reference.item<float>(), fused.item<float>(), reference.item<float>() * tolerance);
        Assert.True(x1.grad!.to(ScalarType.Float32).allclose(x2.grad!.to(ScalarType.Float32), rtol: tolerance * 10, atol: tolerance),
            "input gradient differs");
        Assert.True(w1.grad!.to(ScalarType.Float32).allclose(w2.grad!.to(ScalarType.Float32), rtol: tolerance * 10, atol: tolerance),
            "weight gradient differs");
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Frozen_weight_gets_no_gradient(bool threaded) => OnPath(threaded, () =>
    {
        var x = randn([4, 8]).requires_grad_(true);
        var w = randn([2000, 8]);
        FusedLinearCrossEntropy.NllSum(x, w, tensor(new long[] { 1, 2, 1999, 0 })).backward();
        Assert.NotNull(x.grad);
        Assert.Null(w.grad);
    });

    /// <summary>
    /// <see cref="ThreadedHead"/> against the block path on the same inputs: an odd vocabulary cut into thread shares
    /// and sub-blocks of 16 rows, targets at both ends, a token count off the vector width, and a frozen head; bf16 on
    /// widened products with the same roundings (a near-tie may round one bf16 step apart after different sums). Tiles
    /// of 16 tokens cut the 37 into 8, 16 and 13.
    /// </summary>
    [SkippableTheory]
    [InlineData(ScalarType.Float32, 1e-5, 1e-6, 384, true)]
    [InlineData(ScalarType.Float32, 1e-5, 1e-6, 16, true)]
    [InlineData(ScalarType.BFloat16, 1e-2, 1e-4, 384, true)]
    [InlineData(ScalarType.BFloat16, 1e-2, 1e-4, 16, true)]
    [InlineData(ScalarType.BFloat16, 1e-2, 1e-4, 384, false)]   // bf16 on libtorch's bf16 products (CPUs with AVX512-BF16)
    [InlineData(ScalarType.BFloat16, 1e-2, 1e-4, 16, false)]
    public void Threaded_head_gives_the_block_paths_loss_and_gradients(ScalarType dtype, double rtol, double atol, int tileTokens, bool widen)
    {
        SkipUnlessThreadedHeadRuns(dtype, widen);
        var generator = new Generator(31);
        var x = randn([37, 24], generator: generator).to(dtype);
        var w = randn([3001, 24], generator: generator).to(dtype);
        var targets = randint(0, 3001, [37], generator: generator);
        targets[0] = tensor(3000L);
        targets[1] = tensor(0L);
        var (subBlock, nativeSubBlock, tiles) = (ThreadedHead.SubBlockBytes.Value, ThreadedHead.NativeSubBlockBytes.Value, ThreadedHead.TileTokens.Value);
        try
        {
            ThreadedHead.SubBlockBytes.Value = ThreadedHead.NativeSubBlockBytes.Value = 1;   // the 16-row minimum
            ThreadedHead.TileTokens.Value = tileTokens;
            var (threadedLoss, threadedX, threadedW) = OnPath(true, () => LossAndGradients(x, w, targets, widen));
            var (blockLoss, blockX, blockW) = OnPath(false, () => LossAndGradients(x, w, targets, widen));
            Assert.Equal(blockLoss, threadedLoss, Math.Abs(blockLoss) * 1e-6);
            if (!widen)
            {
                // libtorch's bf16 products round each partial input gradient to bf16 before it is summed in float32: the
                // threaded head's sub-blocks are not the block path's blocks, so each is held to the float64 truth
                // instead, no worse than the block path (measured: 1.04x its mean error here; at 64 x 64 x 151,936 the
                // threaded head's mean error is 0.94x the block path's and 1.2x that of one float32 sum).
                var (truthX, truthW) = Float64Gradients(x, w, targets);
                Assert.True(MaxError(threadedX, truthX) <= 1.5 * MaxError(blockX, truthX), $"input gradient: max error {MaxError(threadedX, truthX)} against {MaxError(blockX, truthX)}");
                Assert.True(MeanError(threadedX, truthX) <= 1.25 * MeanError(blockX, truthX), $"input gradient: mean error {MeanError(threadedX, truthX)} against {MeanError(blockX, truthX)}");
                Assert.True(MaxError(threadedW, truthW) <= 1.5 * MaxError(blockW, truthW), $"weight gradient: max error {MaxError(threadedW, truthW)} against {MaxError(blockW, truthW)}");
                return;
            }
            Assert.True(threadedX.allclose(blockX, rtol, atol), $"input gradient differs by up to {(threadedX - blockX).abs().max().item<float>()}");
            Assert.True(threadedW.allclose(blockW, rtol, atol), $"weight gradient differs by up to {(threadedW - blockW).abs().max().item<float>()}");
            var frozenX = OnPath(true, () =>
            {
                var leaf = x.clone().requires_grad_(true);
                (FusedLinearCrossEntropy.NllSum(leaf, w, targets, widen) * 0.25).backward();
                return leaf.grad!.to(ScalarType.Float32);
            });
            Assert.True(frozenX.allclose(blockX, rtol, atol), "input gradient with a frozen head differs");
        }
        finally
        {
            (ThreadedHead.SubBlockBytes.Value, ThreadedHead.NativeSubBlockBytes.Value, ThreadedHead.TileTokens.Value) = (subBlock, nativeSubBlock, tiles);
        }
    }

    /// <summary>bf16 on float32 GEMMs (CPUs without fast bf16) against libtorch's own bf16 kernels.</summary>
    [Fact]
    public void Widened_bf16_products_match_libtorch_bf16_kernels()
    {
        var generator = new Generator(11);
        var x = randn([33, 24], generator: generator).to(ScalarType.BFloat16);
        var w = (randn([3000, 24], generator: generator) * 0.5).to(ScalarType.BFloat16);
        var targets = randint(0, 3000, [33], generator: generator);
        var (wideLoss, wideX, wideW) = LossAndGradients(x, w, targets, widen: true);
        var (nativeLoss, nativeX, nativeW) = LossAndGradients(x, w, targets, widen: false);

        Assert.Equal(nativeLoss, wideLoss, nativeLoss * 1e-4);
        // Gradients are rounded to bf16 (8 bits of mantissa): the two may round a near-tie apart by one step.
        Assert.True(wideX.allclose(nativeX, rtol: 1e-2, atol: 1e-3), "input gradient differs");
        Assert.True(wideW.allclose(nativeW, rtol: 1e-2, atol: 1e-4), "weight gradient differs");
    }

    /// <summary>Backward reuses the forward's logits blocks within a budget and recomputes past it: same numbers.</summary>
    [Fact]
    public void Kept_and_recomputed_logits_blocks_give_the_same_gradients() => OnPath(false, () =>
    {
        var generator = new Generator(3);
        var x = randn([40, 16], generator: generator);
        var w = randn([5000, 16], generator: generator);
        var targets = randint(0, 5000, [40], generator: generator);
        var (blockBytes, keptBytes) = (FusedLinearCrossEntropy.BlockBytes.Value, FusedLinearCrossEntropy.KeptLogitsBytes.Value);
        try
        {
            FusedLinearCrossEntropy.BlockBytes.Value = 40 * 1024 * 4;    // 5 blocks
            FusedLinearCrossEntropy.KeptLogitsBytes.Value = 2 * 40 * 1024 * 4;   // the first two kept
            var (keptLoss, keptX, keptW) = LossAndGradients(x, w, targets, widen: false);
            FusedLinearCrossEntropy.KeptLogitsBytes.Value = 0;
            var (recomputedLoss, recomputedX, recomputedW) = LossAndGradients(x, w, targets, widen: false);
            Assert.Equal(recomputedLoss, keptLoss);
            Assert.True(keptX.eq(recomputedX).all().item<bool>(), "input gradient differs");
            Assert.True(keptW.eq(recomputedW).all().item<bool>(), "weight gradient differs");
        }
        finally
        {
            (FusedLinearCrossEntropy.BlockBytes.Value, FusedLinearCrossEntropy.KeptLogitsBytes.Value) = (blockBytes, keptBytes);
        }
    });

    /// <summary>
    /// <see cref="ThreadedHead"/>'s backward reads the sub-blocks its forward kept within the budget and recomputes the
    /// rest, keeping exp(x - m) instead of the logits: as close to a float64 reference as recomputing. With tiles of 16 tokens,
    /// each sub-block is kept as three (8, 16 and 16 of the 40 tokens).
    /// </summary>
    [SkippableTheory]
    [InlineData(ScalarType.Float32, 384, false)]
    [InlineData(ScalarType.Float32, 16, false)]
    [InlineData(ScalarType.BFloat16, 384, true)]
    [InlineData(ScalarType.BFloat16, 16, true)]
    [InlineData(ScalarType.BFloat16, 384, false)]   // on libtorch's bf16 products
    [InlineData(ScalarType.BFloat16, 16, false)]
    public void Threaded_head_kept_and_recomputed_logits_give_the_same_gradients(ScalarType dtype, int tileTokens, bool widen)
    {
        SkipUnlessThreadedHeadRuns(dtype, widen);
        var generator = new Generator(5);
        var x = randn([40, 16], generator: generator).to(dtype);
        var w = randn([5000, 16], generator: generator).to(dtype);
        var targets = randint(0, 5000, [40], generator: generator);
        var (subBlock, nativeSubBlock, keptBytes, tiles) = (ThreadedHead.SubBlockBytes.Value, ThreadedHead.NativeSubBlockBytes.Value, FusedLinearCrossEntropy.KeptLogitsBytes.Value, ThreadedHead.TileTokens.Value);
        try
        {
            ThreadedHead.SubBlockBytes.Value = ThreadedHead.NativeSubBlockBytes.Value = 1;   // 16-row sub-blocks
            ThreadedHead.TileTokens.Value = tileTokens;
            var slotBytes = 16 * 40 * 4;
            FusedLinearCrossEntropy.KeptLogitsBytes.Value = 3L * slotBytes * get_num_threads();   // three float32 sub-blocks' worth per thread's share (six of bf16 logits)
            var (keptLoss, keptX, keptW) = OnPath(true, () => LossAndGradients(x, w, targets, widen));
            FusedLinearCrossEntropy.KeptLogitsBytes.Value = 0;
            var (recomputedLoss, recomputedX, recomputedW) = OnPath(true, () => LossAndGradients(x, w, targets, widen));
            FusedLinearCrossEntropy.KeptLogitsBytes.Value = 1L << 30;   // all kept (float32: the forward forms the gradients itself)
            var (allLoss, allX, allW) = OnPath(true, () => LossAndGradients(x, w, targets, widen));
            Assert.Equal(recomputedLoss, keptLoss, Math.Abs(recomputedLoss) * 1e-6);
            Assert.Equal(recomputedLoss, allLoss, Math.Abs(recomputedLoss) * 1e-6);
            if (dtype == ScalarType.BFloat16 && !widen && BFloat16HeadKernels.Supported)
            {
                // Kept bf16 logits: backward forms each gradient from the logit as recomputing it would.
                Assert.True(keptX.equal(recomputedX).all().item<bool>() && allX.equal(recomputedX).all().item<bool>(), "input gradient: kept differs from recomputed");
                Assert.True(keptW.equal(recomputedW).all().item<bool>() && allW.equal(recomputedW).all().item<bool>(), "weight gradient: kept differs from recomputed");
            }
            // Kept: exp(x - m) times e^(m - lse), as close to float64 as recomputing exp(x - lse) (bf16: rounding the
            // gradient may land one bf16 step apart where the two differ in float32's last bit).
            var (truthX, truthW) = Float64Gradients(x, w, targets);
            foreach (var (name, truth, recomputed, kept, all) in new[] { ("input", truthX, recomputedX, keptX, allX), ("weight", truthW, recomputedW, keptW, allW) })
            {
                var bound = MaxError(recomputed, truth) * 1.5 + 1e-7;
                Assert.True(MaxError(kept, truth) <= bound && MaxError(all, truth) <= bound,
                    $"{name} gradient: kept {MaxError(kept, truth):E2}, all kept {MaxError(all, truth):E2}, recomputed {MaxError(recomputed, truth):E2} from float64");
            }
        }
        finally
        {
            (ThreadedHead.SubBlockBytes.Value, ThreadedHead.NativeSubBlockBytes.Value, FusedLinearCrossEntropy.KeptLogitsBytes.Value, ThreadedHead.TileTokens.Value) = (subBlock, nativeSubBlock, keptBytes, tiles);
        }
    }

    /// <summary>
    /// Under no_grad (evaluation) the head keeps nothing for a backward that never comes: the shared logits arena stays
    /// free for the next training step's forward.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_forward_without_grad_leaves_the_logits_arena_free(bool threaded) => OnPath(threaded, () =>
    {
        var generator = new Generator(8);
        var x = randn([30, 16], generator: generator);
        var w = randn([3000, 16], generator: generator).requires_grad_(true);   // a parameter still requires grad
        using (no_grad())
            FusedLinearCrossEntropy.NllSum(x, w, randint(0, 3000, [30], generator: generator)).Dispose();
        // Tests running beside this one lease it for one forward + backward at a time; a leaked lease lasts for ever.
        Assert.True(SpinWait.SpinUntil(() => !LogitsArena.IsLeased, TimeSpan.FromSeconds(60)), "the arena stayed leased after a forward under no_grad");
    });

    /// <summary>
    /// While another call holds the shared logits arena, the threaded head keeps its sub-blocks in a buffer of its own:
    /// the same numbers bit for bit. Kept and recomputed sub-blocks round differently, so heads running side by side (as
    /// tests do) once changed each other's results: bit-for-bit resume tests failed about one full run in six.
    /// </summary>
    [SkippableTheory]
    [InlineData(ScalarType.Float32, true)]
    [InlineData(ScalarType.BFloat16, true)]
    [InlineData(ScalarType.BFloat16, false)]
    public void Threaded_head_gives_the_same_bits_while_another_call_holds_the_arena(ScalarType dtype, bool widen)
    {
        SkipUnlessThreadedHeadRuns(dtype, widen);
        var generator = new Generator(13);
        var x = randn([40, 16], generator: generator).to(dtype);
        var w = randn([3000, 16], generator: generator).to(dtype);
        var targets = randint(0, 3000, [40], generator: generator);
        var (aloneLoss, aloneX, aloneW) = OnPath(true, () => LossAndGradients(x, w, targets, widen));
        var other = new object();   // a forward waiting for its backward
        Assert.True(SpinWait.SpinUntil(() => LogitsArena.Lease(1, other) is not null, TimeSpan.FromSeconds(60)), "the arena never came free");
        (double Loss, Tensor GradX, Tensor GradW) beside;
        try
        {
            beside = OnPath(true, () => LossAndGradients(x, w, targets, widen));
        }
        finally
        {
            LogitsArena.Return(other);
        }
        Assert.Equal(aloneLoss, beside.Loss);
        Assert.True(aloneX.eq(beside.GradX).all().item<bool>(), "input gradient differs");
        Assert.True(aloneW.eq(beside.GradW).all().item<bool>(), "weight gradient differs");
    }

    /// <summary>Skips where the threaded head never runs: no AVX2 + FMA or MKL, or, for bf16 on libtorch's own products, no OpenMP found.</summary>
    private static void SkipUnlessThreadedHeadRuns(ScalarType dtype, bool widen)
    {
        Skip.IfNot(HeadKernels.Supported && MklGemm.Available, "no AVX2 + FMA or no MKL in libtorch: the threaded head never runs");
        Skip.If(dtype == ScalarType.BFloat16 && !widen && !MklGemm.OpenMpAvailable, "libtorch's OpenMP is not found: bf16 on its own products takes the block path");
    }

    /// <summary>The CPU kernels against libtorch's ops on the same blocks (both vocabulary-major), float32 and bf16.</summary>
    [SkippableTheory]
    [InlineData(ScalarType.Float32, 37, 3000, false)]
    [InlineData(ScalarType.Float32, 130, 5000, false)]  // two 64-token tiles and a tail of 2
    [InlineData(ScalarType.BFloat16, 71, 3000, true)]
    [InlineData(ScalarType.BFloat16, 5, 2100, false)]
    [InlineData(ScalarType.BFloat16, 37, 3000, false)]  // bf16 blocks read and written as bf16: four vectors and a tail of 5
    public void Cpu_kernels_match_libtorch_ops(ScalarType dtype, int rows, int vocabulary, bool widen) => OnPath(false, () =>
    {
        Skip.IfNot(HeadKernels.Supported, "this CPU has no AVX2 + FMA: the kernels never run");
        var generator = new Generator(17);
        var x = (randn([rows, 24], generator: generator) * 2).to(dtype);
        var w = randn([vocabulary, 24], generator: generator).to(dtype);
        var targets = randint(0, vocabulary, [rows], generator: generator);
        targets[1] = tensor(vocabulary - 1L);
        targets[2] = tensor(0L);
        var (kernelLoss, kernelX, kernelW) = LossAndGradients(x, w, targets, widen);
        HeadKernels.Enabled.Value = false;
        try
        {
            var (opsLoss, opsX, opsW) = LossAndGradients(x, w, targets, widen);
            Assert.Equal(opsLoss, kernelLoss, Math.Abs(opsLoss) * 2e-6);
            // bf16 gradients are rounded to 8 bits: an exp one unit apart may round a near-tie to the next step.
            var (rtol, atol) = dtype == ScalarType.Float32 ? (1e-5, 1e-5) : (1e-2, 1e-5);   // float32: sums of thousands of terms
            Assert.True(kernelX.allclose(opsX, rtol, atol), $"input gradient differs by up to {(kernelX - opsX).abs().max().item<float>()} of {opsX.abs().max().item<float>()}");
            Assert.True(kernelW.allclose(opsW, rtol, atol), $"weight gradient differs by up to {(kernelW - opsW).abs().max().item<float>()} of {opsW.abs().max().item<float>()}");
        }
        finally
        {
            HeadKernels.Enabled.Value = true;
        }
    });

    /// <summary>A token's loss and gradient do not depend on the other tokens in the batch (nor on the block size).</summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_tokens_loss_does_not_depend_on_the_batch_around_it(bool threaded) => OnPath(threaded, () =>
    {
        var generator = new Generator(23);
        var x = randn([150, 32], generator: generator);
        var w = randn([4000, 32], generator: generator);
        var targets = randint(0, 4000, [150], generator: generator);
        var perToken = new double[150];
        for (var t = 0; t < 150; t++)
            perToken[t] = LossAndGradients(x.narrow(0, t, 1), w, targets.narrow(0, t, 1), widen: false).Loss;
        var (whole, _, _) = LossAndGradients(x, w, targets, widen: false);
        var (half, _, _) = LossAndGradients(x.narrow(0, 0, 75), w, targets.narrow(0, 0, 75), widen: false);
        Assert.Equal(perToken.Sum(), whole, Math.Abs(whole) * 1e-6);
        Assert.Equal(perToken.Take(75).Sum(), half, Math.Abs(half) * 1e-6);
    });

    /// <summary>
    /// Two losses formed before one backward: the first holds the reused logits storage until its backward, so the
    /// second must not write over its kept blocks (and recomputes its own, which float32 rounds a little differently).
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Two_losses_before_one_backward_keep_their_own_logits(bool threaded) => OnPath(threaded, () =>
    {
        var generator = new Generator(29);
        var w = randn([3000, 16], generator: generator);
        var (x1, x2) = (randn([40, 16], generator: generator), randn([60, 16], generator: generator));
        var (t1, t2) = (randint(0, 3000, [40], generator: generator), randint(0, 3000, [60], generator: generator));
        var (_, alone1, _) = LossAndGradients(x1, w, t1, widen: false);
        var (_, alone2, _) = LossAndGradients(x2, w, t2, widen: false);
        var (leaf1, leaf2) = (x1.clone().requires_grad_(true), x2.clone().requires_grad_(true));
        var wLeaf = w.clone().requires_grad_(true);
        ((FusedLinearCrossEntropy.NllSum(leaf1, wLeaf, t1) + FusedLinearCrossEntropy.NllSum(leaf2, wLeaf, t2)) * 0.25).backward();
        Assert.True(leaf1.grad!.allclose(alone1, 1e-5, 1e-6), "first loss's input gradient differs");
        Assert.True(leaf2.grad!.allclose(alone2, 1e-5, 1e-5), "second loss's input gradient differs");
    });

    [Theory]
    [InlineData(float.NaN, false)]
    [InlineData(float.PositiveInfinity, false)]
    [InlineData(float.NaN, true)]
    [InlineData(float.PositiveInfinity, true)]
    public void A_non_finite_logit_makes_the_loss_non_finite(float value, bool threaded) => OnPath(threaded, () =>
    {
        var x = randn([20, 8]);
        var w = randn([3000, 8]);
        w[1234, 3] = tensor(value);
        var loss = FusedLinearCrossEntropy.NllSum(x, w, randint(0, 3000, [20]));
        Assert.False(float.IsFinite(loss.item<float>()));
    });

    /// <summary>Runs with float32 CPU heads of few tokens on <see cref="ThreadedHead"/> (true) or on the block path.</summary>
    private static void OnPath(bool threaded, Action body) => OnPath(threaded, () =>
    {
        body();
        return 0;
    });

    private static T OnPath<T>(bool threaded, Func<T> body)
    {
        var enabled = ThreadedHead.Enabled.Value;
        ThreadedHead.Enabled.Value = threaded;
        try
        {
            return body();
        }
        finally
        {
            ThreadedHead.Enabled.Value = enabled;
        }
    }

    /// <summary>Gradients of 0.25 x the summed cross entropy in float64 on materialised logits.</summary>
    private static (Tensor GradX, Tensor GradW) Float64Gradients(Tensor x, Tensor w, Tensor targets)
    {
        var (xLeaf, wLeaf) = (x.to(ScalarType.Float64).requires_grad_(true), w.to(ScalarType.Float64).requires_grad_(true));
        (nn.functional.cross_entropy(xLeaf.matmul(wLeaf.t()), targets, reduction: nn.Reduction.Sum) * 0.25).backward();
        return (xLeaf.grad!, wLeaf.grad!);
    }

    private static double MaxError(Tensor value, Tensor truth) => (value.to(ScalarType.Float64) - truth).abs().max().item<double>();

    private static double MeanError(Tensor value, Tensor truth) => (value.to(ScalarType.Float64) - truth).abs().mean().item<double>();

    private static (double Loss, Tensor GradX, Tensor GradW) LossAndGradients(Tensor x, Tensor w, Tensor targets, bool widen)
    {
        var xLeaf = x.detach().clone().requires_grad_(true);
        var wLeaf = w.detach().clone().requires_grad_(true);
        var loss = FusedLinearCrossEntropy.NllSum(xLeaf, wLeaf, targets, widen);
        (loss * 0.25).backward();
        return (loss.item<float>(), xLeaf.grad!.to(ScalarType.Float32), wLeaf.grad!.to(ScalarType.Float32));
    }
}
