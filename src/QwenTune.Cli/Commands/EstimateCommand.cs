using System.Globalization;
using System.Text.Json.Nodes;
using QwenTune.Configuration;
using QwenTune.Distributed;
using QwenTune.Planning;
using QwenTune.Runtime;
using static TorchSharp.torch;

namespace QwenTune.Cli.Commands;

/// <summary>
/// Memory per rank and step time of a `train` command line, from config.json alone: takes the same flags as `train`
/// (those that do not change memory, such as --data_path or --learning_rate, are read and have no effect) plus
/// --world_size and --json.
/// </summary>
internal sealed class EstimateCommand : ICommand
{
    public string Name => "estimate";

    public string Summary => "Will it fit? Memory per rank (weights, gradients, optimizer, activations, loss head) and step time of a `train` command line, without loading weights.";

    public Type[] ArgumentGroups => [.. TrainingRequest.Groups, typeof(EstimateArguments)];

    public IReadOnlySet<string>? Flags { get; } =
        HfArgumentParser.DeclaredOptions([.. TrainingRequest.Groups, typeof(EstimateArguments)])
            .Except(["adapter_name_or_path", "add_generation_prompt"]).ToHashSet();

    public int Run(ParsedArguments arguments)
    {
        var request = TrainingRequest.From(arguments);
        var options = arguments.Get<EstimateArguments>();
        var launched = DistributedEnvironment.Detect();
        var worldSize = options.WorldSize ?? launched.WorldSize;
        var shape = TrainingShape.From(request, worldSize);
        var memory = MemoryEstimator.Estimate(shape);
        var flops = StepFlops.For(shape);
        var (gemm, gemmNote) = MeasureGemm(request, shape, launched);
        var available = Memory.AvailableBytes();
        var ranksOnNode = options.WorldSize is { } given && launched.WorldSize == 1 ? given : launched.LocalWorldSize;
        if (options.Json)
            Console.Out.WriteLine(Json(request, shape, memory, flops, gemm, available, ranksOnNode).ToJsonString());
        else
            WriteTable(Console.Out, request, shape, memory, flops, gemm, gemmNote, available, ranksOnNode);
        return 0;
    }

    /// <summary>The GEMM rate in the run's dtype with the threads one of <paramref name="shape"/>'s ranks on this machine would get.</summary>
    private static (double? FlopsPerSecond, string Note) MeasureGemm(TrainingRequest request, TrainingShape shape, DistributedEnvironment launched)
    {
        var training = request.Training;
        var ranksHere = launched.WorldSize > 1 ? launched.LocalWorldSize : shape.WorldSize;
        var threads = training.TorchThreads ?? Math.Max(1, Environment.ProcessorCount / ranksHere);
        var environment = ComputeEnvironment.Resolve(request.Model.Device, training.Bf16, fp16: false, threads);
        if (training.Fp16 && !environment.IsCuda)
            return (null, "not measured: float16 runs on CUDA only");
        var dtype = training.Fp16 ? ScalarType.Float16 : environment.Dtype;
        var rate = GemmPeak.FlopsPerSecond(dtype, environment.Device, shape.Tokens, shape.Config.HiddenSize, shape.Config.IntermediateSize);
        return (rate, $"{shape.DtypeName} GEMM measured now on {environment.Device.type.ToString().ToLowerInvariant()}, {threads} thread{(threads == 1 ? "" : "s")}");
    }

    private static void WriteTable(TextWriter output, TrainingRequest request, TrainingShape shape, MemoryEstimate memory, StepFlops flops,
        double? gemm, string gemmNote, long available, int ranksOnNode)
    {
        var config = shape.Config;
        var mode = shape.Mode switch
        {
            TuningMode.Full => "full fine-tuning",
            TuningMode.Lora => $"LoRA r {shape.LoraRank} on {string.Join(",", shape.LoraTargets)}",
            _ => $"Q-LoRA (NF4 base) r {shape.LoraRank} on {string.Join(",", shape.LoraTargets)}",
        };
        output.WriteLine($"{request.Model.ModelNameOrPath}: {config.ModelType}, {config.NumHiddenLayers} layers, hidden {config.HiddenSize}, " +
                         $"{N(memory.TotalParameters)} parameters, {N(memory.TrainableParameters)} trainable ({mode}), {shape.DtypeName}");
        output.WriteLine($"per rank of {shape.WorldSize} (ZeRO stage {shape.ZeroStage}), micro-batch {shape.MicroBatchSize} x {shape.SequenceLength} tokens, " +
                         $"gradient checkpointing {(shape.GradientCheckpointing || shape.ZeroStage == 3 ? "on" : "off")}");
        void Row(string name, long bytes, string note = "") => output.WriteLine($"  {name,-17}{Bytes.Format(bytes),12}   {note}");
        Row("weights", memory.Weights, shape.Mode == TuningMode.QLora ? "NF4 projections, float32 norms and adapters" : "");
        Row("gradients", memory.Gradients, shape.WorldSize > 1 ? "parameters' own, plus this rank's float32 shard" : "");
        Row("optimizer state", memory.OptimizerState, shape.WorldSize > 1 || shape.ElementBytes != 4 ? "AdamW moments + float32 masters" : "AdamW moments (float32 weights are their own masters)");
        Row("activations", memory.Activations,
            $"{Bytes.Format(memory.ActivationsPerLayer)} a layer, {Bytes.Format(memory.CheckpointedPerLayer)} checkpointed");
        Row("loss head", memory.LossHead, "fused cross entropy blocks (no full logits)");
        Row("optimizer step", memory.StepWorking, "temporaries");
        Row("peak", memory.Peak, "largest total during a step (activations are gone when the gradients are complete)");
        var seconds = gemm is { } rate ? flops.Total / rate : (double?)null;
        output.WriteLine($"step: {flops.Total / 1e12:F3} TFLOP a micro-batch (layers {flops.Layers / 1e12:F3}, attention {flops.Attention / 1e12:F3}, head {flops.Head / 1e12:F3})" +
                         (seconds is { } s ? $", at least {s.ToString("F2", CultureInfo.InvariantCulture)} s at {gemm!.Value / 1e9:F1} GFLOP/s ({gemmNote})" : $"; step time {gemmNote}"));
        if (available > 0)
        {
            var needed = memory.Peak * ranksOnNode;
            var who = ranksOnNode > 1 ? $"{ranksOnNode} ranks need {Bytes.Format(needed)}" : $"needs {Bytes.Format(needed)}";
            output.WriteLine($"this machine: {Bytes.Format(available)} free (MemAvailable); {who}: {(needed <= available ? "fits" : "does NOT fit")}");
        }
    }

    private static JsonObject Json(TrainingRequest request, TrainingShape shape, MemoryEstimate memory, StepFlops flops, double? gemm, long available, int ranksOnNode) => new()
    {
        ["model"] = request.Model.ModelNameOrPath,
        ["mode"] = shape.Mode.ToString().ToLowerInvariant(),
        ["dtype"] = shape.DtypeName,
        ["world_size"] = shape.WorldSize,
        ["zero_stage"] = shape.ZeroStage,
        ["micro_batch_size"] = shape.MicroBatchSize,
        ["sequence_length"] = shape.SequenceLength,
        ["gradient_checkpointing"] = shape.GradientCheckpointing || shape.ZeroStage == 3,
        ["parameters"] = memory.TotalParameters,
        ["trainable_parameters"] = memory.TrainableParameters,
        ["bytes"] = new JsonObject
        {
            ["weights"] = memory.Weights,
            ["gradients"] = memory.Gradients,
            ["optimizer_state"] = memory.OptimizerState,
            ["activations"] = memory.Activations,
            ["activations_per_layer"] = memory.ActivationsPerLayer,
            ["checkpointed_per_layer"] = memory.CheckpointedPerLayer,
            ["loss_head"] = memory.LossHead,
            ["optimizer_step"] = memory.StepWorking,
            ["peak"] = memory.Peak,
        },
        ["flops"] = new JsonObject
        {
            ["layers"] = flops.Layers,
            ["attention"] = flops.Attention,
            ["head"] = flops.Head,
            ["total"] = flops.Total,
        },
        ["gemm_flops_per_second"] = gemm,
        ["step_seconds"] = gemm is { } rate ? flops.Total / rate : null,
        ["available_bytes"] = available > 0 ? available : null,
        ["fits"] = available > 0 ? memory.Peak * ranksOnNode <= available : null,
    };

    private static string N(long count) => count.ToString("N0", CultureInfo.InvariantCulture);
}
