using System.Text.RegularExpressions;
using QwenTune.Configuration;
using QwenTune.Distributed;
using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// Data-parallel AdamW with DeepSpeed's ZeRO stages, over <see cref="ICollectives"/>. Parameters are grouped per decoder
/// layer, dtype and trainability (<see cref="ShardGroup"/>); each group is a flat vector split evenly over the ranks.
/// Stage 0: gradients all-reduced in buckets of reduce_bucket_size, every rank updates everything.
/// Stage 1: gradients all-reduced, each rank keeps float32 masters and AdamW moments of its shard only, updates it and
/// all-gathers the new weights. Stage 2: gradients summed after every micro-batch, each rank keeping its shard (per layer as soon as its
/// backward is done when layers run through <see cref="CheckpointedLayer"/>), so a rank keeps only its shard of them.
/// Stage 3: the decoder layers' parameters are sharded too; each layer is all-gathered before its forward and again for
/// its backward and freed after (<see cref="ILayerParameters"/>). The update of each element is the arithmetic of
/// <see cref="AdamWMath"/>, the same as the one-process <see cref="AdamWUpdater"/>, and checkpoints hold the same
/// consolidated tensors, so a run can resume on any number of ranks.
/// </summary>
public sealed partial class ZeroUpdater : IParameterUpdater, ILayerParameters
{
    private readonly AdamWOptions _options;
    private readonly ZeroSettings _zero;
    private readonly ICollectives _collectives;
    private readonly Device _device;
    private readonly List<ShardGroup> _groups;
    private readonly Dictionary<QwenDecoderLayer, int> _layerIndex;
    private readonly HashSet<ShardGroup> _reducedThisMicroBatch = [];
    private readonly List<PendingReduction> _pending = [];
    private readonly System.Diagnostics.Stopwatch _communication = new();

    public ZeroUpdater(QwenForCausalLM model, AdamWOptions options, ZeroSettings zero, ICollectives collectives)
    {
        _options = options;
        _zero = zero;
        _collectives = collectives;
        _device = model.Device;
        var layers = model.Model.Layers;
        _layerIndex = layers.Select((layer, i) => (layer, i)).ToDictionary(x => x.layer, x => x.i);
        var partitions = zero.Stage == 0 ? 1 : collectives.WorldSize;
        var rank = zero.Stage == 0 ? 0 : collectives.Rank;
        var decayNames = ParameterGroups.Trainable(model).ToDictionary(p => p.Name, p => p.Decay);
        _groups = [];
        foreach (var grouping in model.named_parameters()
                     .Select(p => (p.name, p.parameter, Layer: LayerOf(p.name)))
                     .Select(p => (p.name, p.parameter, p.Layer,
                         Sharded: zero.Stage == 3 && p.Layer >= 0 && p.parameter.numel() >= zero.PersistenceThreshold))
                     .Where(p => p.parameter.requires_grad || p.Sharded)
                     // Stage 3 keeps small tensors whole; they share one group whatever their layer.
                     .GroupBy(p => (Layer: zero.Stage == 3 && !p.Sharded ? -1 : p.Layer, p.parameter.dtype, p.parameter.requires_grad, p.Sharded)))
        {
            long offset = 0;
            var slots = new List<ShardSlot>();
            foreach (var (name, parameter, _, _) in grouping)
            {
                slots.Add(new ShardSlot(name, parameter, decayNames.GetValueOrDefault(name), offset, parameter.numel(), parameter.shape));
                offset += parameter.numel();
            }
            var key = grouping.Key;
            var group = new ShardGroup(key.Layer, key.dtype, key.requires_grad, key.Sharded, slots, partitions, rank);
            if (group.Trainable)
                InitializeOptimizerState(group);
            _groups.Add(group);
        }
        if (_groups.All(g => !g.Trainable))
            throw new QwenTuneException("nothing to train: no parameter requires a gradient.");
    }

    public long StepCount { get; private set; }

    public int Stage => _zero.Stage;

    /// <summary>Seconds this rank has spent in blocking collectives and waiting for non-blocking ones (benchmarks report it per step).</summary>
    public double CommunicationSeconds => _communication.Elapsed.TotalSeconds;

    private IEnumerable<ShardGroup> Trainable => _groups.Where(g => g.Trainable);

    /// <summary>
    /// Hooks the updater into the model's layers, once any resume has loaded weights and optimizer state. ZeRO-3 runs
    /// every layer through the recomputing <see cref="CheckpointedLayer"/>, which gathers its parameters for forward and
    /// backward, and then frees all but this rank's shard; ZeRO-2 with gradient checkpointing reduce-scatters each layer's
    /// gradients as soon as its backward is done.
    /// </summary>
    public void Attach(QwenModel model, bool gradientCheckpointing)
    {
        if (_zero.Stage == 3)
        {
            CheckpointedLayer.Enable(model, this);
            model.InputRequiresGrad = true;
            PartitionParameters();
        }
        else if (_zero.Stage == 2 && gradientCheckpointing)
        {
            CheckpointedLayer.Enable(model, this);
        }
    }

    /// <summary>Bytes this rank holds now: parameters (whole or shards), gradients (shards and any whole ones), optimizer state.</summary>
    public (long Weights, long LayerWeights, long Gradients, long Optimizer) ResidentBytes(QwenForCausalLM model)
    {
        static long Bytes(Tensor? t) => t is null ? 0 : t.numel() * t.element_size();
        var parameters = model.named_parameters().ToList();
        var storage = _groups.Where(g => !ReferenceEquals(g.StorageShard, g.Master)).Sum(g => Bytes(g.StorageShard));
        var weights = parameters.Sum(p => Bytes(p.parameter)) + storage;
        var layerWeights = parameters.Where(p => LayerOf(p.name) >= 0).Sum(p => Bytes(p.parameter)) + storage;
        var gradients = _groups.Sum(g => Bytes(g.Gradient)) + parameters.Sum(p => Bytes(p.parameter.grad));
        var optimizer = _groups.Sum(g => Bytes(g.Master) + Bytes(g.ExpAvg) + Bytes(g.ExpAvgSq));
        return (weights, layerWeights, gradients, optimizer);
    }

    /// <summary>
    /// ZeRO-3: keeps only each rank's shard of the layers' parameters and frees the rest. Call once, after any resume
    /// has loaded weights and optimizer state into the full parameters.
    /// </summary>
    private void PartitionParameters()
    {
        using var noGrad = no_grad();
        foreach (var group in _groups.Where(g => g.StorageSharded))
        {
            // float32 weights need no copy beside their float32 master: the master shard is what this rank contributes.
            if (group.Trainable && group.Dtype == ScalarType.Float32)
            {
                group.StorageShard = group.Master;
            }
            else
            {
                group.StorageShard = empty(group.ShardNumel, group.Dtype, _device).DetachFromDisposeScope();
                group.CopyFlat(group.OwnStart, group.StorageShard, gradients: false);
            }
            Release(group);
        }
    }

    public void ZeroGrad()
    {
        foreach (var slot in Trainable.SelectMany(g => g.Slots))
            slot.Parameter.grad = null;
    }

    /// <summary>Stages 2 and 3 reduce-scatter what each micro-batch's backward produced, so no rank keeps full gradients.</summary>
    public void AfterBackward()
    {
        if (_zero.Stage >= 2)
        {
            foreach (var group in Trainable.Where(g => !_reducedThisMicroBatch.Contains(g)))
                ReduceScatter(group);
            FinishPending();
        }
        _reducedThisMicroBatch.Clear();
    }

    public StepResult Step(double learningRate, double maxGradNorm, double lossScale = 1.0)
    {
        using var noGrad = no_grad();
        FinishPending();
        if (_zero.Stage <= 1)
        {
            foreach (var group in Trainable)
                AllReduce(group);
        }
        double sumOfSquares = 0;
        foreach (var group in Trainable)
            sumOfSquares += AdamWMath.SumOfSquares(group.Gradient!);
        if (_zero.Stage > 0)
            Communicate(() => sumOfSquares = _collectives.AllReduceSum(sumOfSquares));
        var norm = Math.Sqrt(sumOfSquares) / lossScale;
        if (!double.IsFinite(norm))
        {
            foreach (var group in Trainable)
                group.Gradient!.zero_();
            return new StepResult(norm, Skipped: true);
        }
        // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below one.
        var clip = maxGradNorm > 0 ? Math.Min(1.0, maxGradNorm / (norm + 1e-6)) : 1.0;
        var factor = clip / lossScale;
        StepCount++;
        foreach (var group in Trainable)
        {
            using var scope = NewDisposeScope();
            foreach (var slot in group.Slots)
            {
                if (ShardGroup.Overlap(slot, group.OwnStart, group.ShardNumel) is not (_, var at, var count))
                    continue;
                AdamWMath.Update(group.Master!.narrow(0, at, count), group.ExpAvg!.narrow(0, at, count), group.ExpAvgSq!.narrow(0, at, count),
                    group.Gradient!.narrow(0, at, count), factor, learningRate, slot.Decay ? _options.WeightDecay : 0.0, StepCount, _options);
            }
            group.Gradient!.zero_();
            PublishWeights(group);
        }
        return new StepResult(norm, Skipped: false);
    }

    /// <summary>
    /// Consolidated optimizer state under one-process names (exp_avg.N, exp_avg_sq.N, master.N for non-float32
    /// parameters). A collective: every rank must call it. Rank 0, which writes checkpoints, gets the full tensors, one
    /// group gathered at a time; the other ranks send their shards and get nothing, so they never hold the whole state.
    /// </summary>
    public IEnumerable<KeyValuePair<string, Tensor>> StateTensors()
    {
        using var noGrad = no_grad();
        var state = new List<KeyValuePair<string, Tensor>>();
        foreach (var group in Trainable)
        {
            using var master = FullOnRankZero(group, group.Master!);
            using var expAvg = FullOnRankZero(group, group.ExpAvg!);
            using var expAvgSq = FullOnRankZero(group, group.ExpAvgSq!);
            if (_collectives.Rank != 0)
                continue;
            foreach (var slot in group.Slots)
            {
                Tensor Slice(Tensor full) => full.narrow(0, slot.Offset, slot.Numel).view(slot.Shape).clone().DetachFromDisposeScope();
                state.Add(new($"exp_avg.{slot.Name}", Slice(expAvg!)));
                state.Add(new($"exp_avg_sq.{slot.Name}", Slice(expAvgSq!)));
                if (slot.Parameter.dtype != ScalarType.Float32)
                    state.Add(new($"master.{slot.Name}", Slice(master!)));
            }
        }
        return state;
    }

    /// <summary>Restores consolidated state (written by any number of ranks); float32 parameters are their own masters.</summary>
    public void LoadState(long stepCount, Func<string, Tensor?> lookup, string source)
    {
        using var noGrad = no_grad();
        StepCount = stepCount;
        foreach (var group in Trainable)
        {
            foreach (var slot in group.Slots)
            {
                if (ShardGroup.Overlap(slot, group.OwnStart, group.ShardNumel) is not (var from, var at, var count))
                    continue;
                void Restore(Tensor shard, string kind, bool required)
                {
                    var saved = lookup($"{kind}.{slot.Name}");
                    if (saved is null && !required)
                        saved = slot.Parameter.detach();
                    if (saved is null)
                        throw new QwenTuneException($"{source}: optimizer state '{kind}.{slot.Name}' is missing; the checkpoint does not match this model or these trainable parameters.");
                    if (!saved.shape.SequenceEqual(slot.Shape))
                        throw new QwenTuneException($"{source}: optimizer state '{kind}.{slot.Name}' has shape [{string.Join(", ", saved.shape)}], expected [{string.Join(", ", slot.Shape)}].");
                    shard.narrow(0, at, count).copy_(saved.flatten().narrow(0, from, count));
                }
                Restore(group.ExpAvg!, "exp_avg", required: true);
                Restore(group.ExpAvgSq!, "exp_avg_sq", required: true);
                Restore(group.Master!, "master", required: slot.Parameter.dtype != ScalarType.Float32);
            }
        }
    }

    public void Gather(QwenDecoderLayer layer)
    {
        foreach (var group in ShardedGroupsOf(layer).Where(g => !g.Gathered))
            Gather(group);
    }

    public void Release(QwenDecoderLayer layer)
    {
        foreach (var group in ShardedGroupsOf(layer))
            Release(group);
    }

    public void GradientsReady(QwenDecoderLayer layer)
    {
        if (_zero.Stage < 2)
            return;
        var index = _layerIndex[layer];
        foreach (var group in Trainable.Where(g => g.Layer == index && !_reducedThisMicroBatch.Contains(g)))
            ReduceScatter(group);
    }

    /// <summary>All parameters whole (for saving the model), on every rank, until the result is disposed.</summary>
    public IDisposable GatherParameters()
    {
        var gathered = _groups.Where(g => g.StorageSharded && !g.Gathered).ToList();
        foreach (var group in gathered)
            Gather(group);
        return new Releaser(() => gathered.ForEach(Release));
    }

    private sealed class Releaser(Action release) : IDisposable
    {
        public void Dispose() => release();
    }

    public void Dispose()
    {
        FinishPending();
        foreach (var group in _groups)
            group.Dispose();
    }

    private void InitializeOptimizerState(ShardGroup group)
    {
        using var noGrad = no_grad();
        group.Master = empty(group.ShardNumel, ScalarType.Float32, _device).DetachFromDisposeScope();
        group.CopyFlat(group.OwnStart, group.Master, gradients: false);
        group.ExpAvg = zeros(group.ShardNumel, ScalarType.Float32, _device).DetachFromDisposeScope();
        group.ExpAvgSq = zeros(group.ShardNumel, ScalarType.Float32, _device).DetachFromDisposeScope();
        group.Gradient = zeros(group.ShardNumel, ScalarType.Float32, _device).DetachFromDisposeScope();
    }

    /// <summary>Stages 0 and 1: sums the gradients over the ranks bucket by bucket and keeps the owned part.</summary>
    private void AllReduce(ShardGroup group)
    {
        var bucket = Math.Max(1, _zero.ReduceBucketSize);
        for (long start = 0; start < group.Numel; start += bucket)
        {
            using var scope = NewDisposeScope();
            var length = Math.Min(bucket, group.Numel - start);
            var flat = empty(length, ScalarType.Float32, _device);
            group.CopyFlat(start, flat, gradients: true);
            if (_collectives.WorldSize > 1)
                Communicate(() => _collectives.AllReduceSum(flat));
            var from = Math.Max(start, group.OwnStart);
            var to = Math.Min(start + length, group.OwnStart + group.ShardNumel);
            if (to > from)
                group.Gradient!.narrow(0, from - group.OwnStart, to - from).add_(flat.narrow(0, from - start, to - from));
        }
        foreach (var slot in group.Slots)
            slot.Parameter.grad = null;
    }

    /// <summary>
    /// Stages 2 and 3: sums this micro-batch's gradients over the ranks and adds each rank's part to its shard, in
    /// buckets of reduce_bucket_size elements of the group's flat vector, with overlap_comm non-blocking (finished
    /// after backward). Each bucket is all-reduced rather than reduce-scattered: Open MPI 4.1's reduce-scatter ran at a
    /// tenth of its all-reduce's bandwidth here, and laying out each rank's piece for it cost two more copies per bucket
    /// (bench `data-parallel`: 2 ranks x 1 thread under ZeRO-2 went from 0.65 to 0.86-0.92 of 1 rank x 2 threads).
    /// </summary>
    private void ReduceScatter(ShardGroup group)
    {
        var bucket = Math.Max(1, _zero.ReduceBucketSize);
        using var noGrad = no_grad();
        for (long start = 0; start < group.Numel; start += bucket)
        {
            var flat = empty(Math.Min(bucket, group.Numel - start), ScalarType.Float32, _device).DetachFromDisposeScope();
            group.CopyFlat(start, flat, gradients: true);
            var reduction = new PendingReduction(group, start, flat, _zero.OverlapComm ? _collectives.AllReduceSumAsync(flat) : null);
            if (reduction.Request is null)
            {
                Communicate(() => _collectives.AllReduceSum(flat));
                reduction.Complete();
            }
            else
            {
                _pending.Add(reduction);
            }
        }
        foreach (var slot in group.Slots)
            slot.Parameter.grad = null;
        _reducedThisMicroBatch.Add(group);
    }

    private void Communicate(Action collective)
    {
        _communication.Start();
        try
        {
            collective();
        }
        finally
        {
            _communication.Stop();
        }
    }

    private void FinishPending()
    {
        using var noGrad = no_grad();
        foreach (var reduction in _pending)
        {
            Communicate(reduction.Request!.Wait);
            reduction.Complete();
        }
        _pending.Clear();
    }

    /// <summary>Puts the updated owned elements back where the model reads them.</summary>
    private void PublishWeights(ShardGroup group)
    {
        if (group.StorageSharded)
        {
            if (!ReferenceEquals(group.StorageShard, group.Master))
                group.StorageShard!.copy_(group.Master!);
            return;
        }
        using var scope = NewDisposeScope();
        var full = group.ShardNumel == group.PaddedNumel ? group.Master!.to(group.Dtype) : Full(group, group.Master!.to(group.Dtype));
        foreach (var slot in group.Slots)
            slot.Parameter.copy_(full.narrow(0, slot.Offset, slot.Numel).view(slot.Shape));
    }

    /// <summary>All ranks' shards of a flat group tensor, concatenated on rank 0 (a collective); null on the other ranks.</summary>
    private Tensor? FullOnRankZero(ShardGroup group, Tensor shard)
    {
        var root = _collectives.Rank == 0;
        if (group.ShardNumel == group.PaddedNumel)
            return root ? shard.alias() : null;
        var full = root ? empty(group.PaddedNumel, shard.dtype, _device) : null;
        Communicate(() => _collectives.Gather(shard, full, root: 0));
        return full;
    }

    /// <summary>All ranks' shards of a flat group tensor, concatenated (a collective); the shard itself when unsharded.</summary>
    private Tensor Full(ShardGroup group, Tensor shard)
    {
        if (group.ShardNumel == group.PaddedNumel)
            return shard.alias();
        var full = empty(group.PaddedNumel, shard.dtype, _device);
        Communicate(() => _collectives.AllGather(shard, full));
        return full;
    }

    private void Gather(ShardGroup group)
    {
        using var noGrad = no_grad();
        using var full = empty(group.PaddedNumel, group.Dtype, _device);
        Communicate(() => _collectives.AllGather(group.StorageShard!, full));
        foreach (var slot in group.Slots)
        {
            using var view = full.narrow(0, slot.Offset, slot.Numel).view(slot.Shape);
            slot.Parameter.set_(view);
        }
        group.Gathered = true;
    }

    private void Release(ShardGroup group)
    {
        using var noGrad = no_grad();
        foreach (var slot in group.Slots)
        {
            using var nothing = empty(0, group.Dtype, _device);
            slot.Parameter.set_(nothing);
        }
        group.Gathered = false;
    }

    private IEnumerable<ShardGroup> ShardedGroupsOf(QwenDecoderLayer layer)
    {
        var index = _layerIndex[layer];
        return _groups.Where(g => g.StorageSharded && g.Layer == index);
    }

    private static int LayerOf(string name) =>
        LayerPattern().Match(name) is { Success: true } match ? int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture) : -1;

    [GeneratedRegex(@"^model\.layers\.(\d+)\.")]
    private static partial Regex LayerPattern();

    /// <summary>The reduction of one bucket [Start, Start + length) of a group, finished when this rank's part is added to its shard.</summary>
    private sealed record PendingReduction(ShardGroup Group, long Start, Tensor Sum, ICollectiveRequest? Request)
    {
        public void Complete()
        {
            var from = Math.Max(Start, Group.OwnStart);
            var to = Math.Min(Start + Sum.shape[0], Group.OwnStart + Group.ShardNumel);
            if (to > from)
            {
                using var own = Group.Gradient!.narrow(0, from - Group.OwnStart, to - from);
                using var part = Sum.narrow(0, from - Start, to - from);
                own.add_(part);
            }
            Request?.Dispose();
            Sum.Dispose();
        }
    }
}
