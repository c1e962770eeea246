using QwenTune.Models;
using System.Diagnostics;
using QwenTune.Quantization;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>
/// NF4 on a 4096x4096 weight: quantise and dequantise throughput, storage, and a quantized QwenLinear forward+backward (input
/// gradient only, as under Q-LoRA) against a bf16 Linear with a frozen weight. Args: [tokens] (default 1024).
/// </summary>
internal sealed class Nf4Benchmark : IBenchmark
{
    private const int Features = 4096;
    private const int Repeats = 5;

    public string Name => "nf4";

    public string Description => "NF4 quantise/dequantise params/s, bytes/param, quantized QwenLinear fwd+bwd vs bf16 Linear";

    public object Run(IReadOnlyList<string> args)
    {
        var tokens = args.Count > 0 ? int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture) : 1024;
        const long parameters = (long)Features * Features;
        using var weight = randn(new long[] { Features, Features }, dtype: ScalarType.BFloat16, generator: new Generator(0)) * 0.02;

        var quantizeMs = FastestMs(() => Nf4Tensor.Quantize(weight).Dispose());
        var quantizeNoDqMs = FastestMs(() => Nf4Tensor.Quantize(weight, doubleQuant: false).Dispose());
        using var nf4 = Nf4Tensor.Quantize(weight);
        using var nf4NoDq = Nf4Tensor.Quantize(weight, doubleQuant: false);
        var dequantizeMs = FastestMs(() => nf4.Dequantize(ScalarType.BFloat16).Dispose());
        var dequantizeFp32Ms = FastestMs(() => nf4.Dequantize(ScalarType.Float32).Dispose());

        using var layer = new QwenLinear(weight.shape[1], weight.shape[0], hasBias: false, weight.dtype, CPU, quantized: true);
        layer.SetQuantizedWeight(weight);
        using var dense = nn.Linear(Features, Features, hasBias: false, dtype: ScalarType.BFloat16);
        using (no_grad())
            dense.weight!.copy_(weight);
        dense.weight!.requires_grad_(false);
        using var x = randn(new long[] { tokens, Features }, dtype: ScalarType.BFloat16, generator: new Generator(1));
        var nf4StepMs = FastestMs(() => ForwardBackward(layer, x));
        var denseStepMs = FastestMs(() => ForwardBackward(dense, x));

        return new
        {
            benchmark = Name,
            threads = get_num_threads(),
            shape = new[] { Features, Features },
            quantize_ms = quantizeMs,
            quantize_params_per_s = parameters / (quantizeMs / 1e3),
            quantize_no_double_quant_ms = quantizeNoDqMs,
            dequantize_bf16_ms = dequantizeMs,
            dequantize_bf16_params_per_s = parameters / (dequantizeMs / 1e3),
            dequantize_fp32_ms = dequantizeFp32Ms,
            bytes_per_param = (double)nf4.StorageBytes / parameters,
            bytes_per_param_no_double_quant = (double)nf4NoDq.StorageBytes / parameters,
            tokens,
            nf4_linear_fwd_bwd_ms = nf4StepMs,
            bf16_linear_fwd_bwd_ms = denseStepMs,
            nf4_over_bf16 = nf4StepMs / denseStepMs,
        };
    }

    private static void ForwardBackward(nn.Module<Tensor, Tensor> layer, Tensor x)
    {
        using var scope = NewDisposeScope();
        var input = x.detach().requires_grad_(true);
        layer.call(input).sum().backward();
        _ = input.grad!.sum().to(ScalarType.Float32).item<float>();
    }

    // One warm-up run, then the fastest of the timed ones: on a machine shared with other jobs the minimum is the
    // estimate least disturbed by them.
    private static double FastestMs(Action action)
    {
        action();
        var fastest = double.MaxValue;
        for (var i = 0; i < Repeats; i++)
        {
            var watch = Stopwatch.StartNew();
            action();
            fastest = Math.Min(fastest, watch.Elapsed.TotalMilliseconds);
        }
        return Math.Round(fastest, 2);
    }
}
