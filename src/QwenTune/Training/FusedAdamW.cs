using System.Numerics;
using QwenTune.Checkpoints;
using QwenTune.Models;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>
/// AdamW's element-wise update of CPU float32 state in one pass over memory, on both of the process's torch threads.
/// Composed of libtorch ops the same update reads and writes each element's state about a dozen times (grad copy and
/// scale, decay, lerp, addcmul, sqrt, div, add, addcdiv, copy to the bf16 parameter: ~100 bytes per parameter); here
/// it moves what it must: the gradient (bf16 or float32) in, master weight and both moments in and out, and the bf16
/// parameter out when there is one (28 bytes per parameter). The arithmetic is <see cref="AdamWMath"/>'s, expression
/// by expression (torch.optim.AdamW's, or transformers' legacy AdamW); the order of float operations per element is
/// torch's, so results agree with the composed path to float32 rounding.
/// </summary>
internal static unsafe class FusedAdamW
{
    /// <summary>Elements per work item: large enough to amortise scheduling, small enough to share two threads evenly.</summary>
    private const int ChunkElements = 1 << 16;

    /// <summary>Scalars of one update.</summary>
    public readonly record struct Coefficients(
        float GradFactor, float Decay, float OneMinusBeta1, float Beta2, float OneMinusBeta2,
        float BiasCorrection2Sqrt, float Epsilon, float StepSize);

    /// <summary>Off: every update takes the composed libtorch path (bench `optimizer` compares the two).</summary>
    internal static bool Enabled { get; set; } = true;

    /// <summary>Whether these tensors can take the fused path: CPU, contiguous, float32 state, float32/bf16 gradient.</summary>
    public static bool Supports(Tensor target, Tensor expAvg, Tensor expAvgSq, Tensor grad, Tensor? lowPrecisionCopy) =>
        Enabled && IsCpuContiguous(target, ScalarType.Float32) && IsCpuContiguous(expAvg, ScalarType.Float32) && IsCpuContiguous(expAvgSq, ScalarType.Float32)
        && (IsCpuContiguous(grad, ScalarType.Float32) || IsCpuContiguous(grad, ScalarType.BFloat16))
        && (lowPrecisionCopy is null || IsCpuContiguous(lowPrecisionCopy, ScalarType.BFloat16))
        && grad.NumberOfElements == target.NumberOfElements && expAvg.NumberOfElements == target.NumberOfElements
        && expAvgSq.NumberOfElements == target.NumberOfElements
        && (lowPrecisionCopy is null || lowPrecisionCopy.NumberOfElements == target.NumberOfElements);

    private static bool IsCpuContiguous(Tensor t, ScalarType dtype) =>
        t.device_type == TorchSharp.DeviceType.CPU && t.dtype == dtype && t.is_contiguous();

    /// <summary>
    /// target, expAvg, expAvgSq updated in place from grad x GradFactor; lowPrecisionCopy (the bf16 parameter whose
    /// master is target), when given, receives the new target rounded to nearest even.
    /// </summary>
    public static void Update(Tensor target, Tensor expAvg, Tensor expAvgSq, Tensor grad, Tensor? lowPrecisionCopy, Coefficients c, bool legacy)
    {
        var count = target.NumberOfElements;
        var p = (float*)TensorMemory.DataPointer(target);
        var m = (float*)TensorMemory.DataPointer(expAvg);
        var v = (float*)TensorMemory.DataPointer(expAvgSq);
        var g = TensorMemory.DataPointer(grad);
        var gradIsBFloat16 = grad.dtype == ScalarType.BFloat16;
        var copy = lowPrecisionCopy is null ? null : (ushort*)TensorMemory.DataPointer(lowPrecisionCopy);
        ForEachChunk(count, (start, length) =>
        {
            if (gradIsBFloat16)
                UpdateRange(p + start, m + start, v + start, (ushort*)g + start, null, copy is null ? null : copy + start, length, c, legacy);
            else
                UpdateRange(p + start, m + start, v + start, null, (float*)g + start, copy is null ? null : copy + start, length, c, legacy);
        });
    }

    /// <summary>Sum of squares of a CPU float32/bf16 tensor, accumulated in float64 across chunks.</summary>
    public static double SumOfSquares(Tensor grad)
    {
        var count = grad.NumberOfElements;
        var data = TensorMemory.DataPointer(grad);
        var isBFloat16 = grad.dtype == ScalarType.BFloat16;
        var partial = new double[(count + ChunkElements - 1) / ChunkElements];
        ForEachChunk(count, (start, length) => partial[start / ChunkElements] = isBFloat16
            ? SquaresOfBFloat16((ushort*)data + start, length)
            : SquaresOfFloat32((float*)data + start, length));
        return partial.Sum();
    }

    public static bool SupportsNorm(Tensor grad) =>
        Enabled && (IsCpuContiguous(grad, ScalarType.Float32) || IsCpuContiguous(grad, ScalarType.BFloat16));

    private static void ForEachChunk(long count, Action<long, int> body)
    {
        var chunks = (count + ChunkElements - 1) / ChunkElements;
        if (chunks <= 1)
        {
            if (count > 0)
                body(0, (int)count);
            return;
        }
        var options = new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, get_num_threads()) };
        Parallel.For(0L, chunks, options, chunk =>
        {
            var start = chunk * ChunkElements;
            body(start, (int)Math.Min(ChunkElements, count - start));
        });
    }

    private static void UpdateRange(float* p, float* m, float* v, ushort* gBf16, float* gF32, ushort* copy, int length, Coefficients c, bool legacy)
    {
        var width = Vector<float>.Count;
        var i = 0;
        if (Vector.IsHardwareAccelerated && (gBf16 is null || Vector<ushort>.Count == 2 * width))
        {
            for (; i + 2 * width <= length; i += 2 * width)
            {
                Vector<float> g0, g1;
                if (gBf16 is not null)
                {
                    Vector.Widen(*(Vector<ushort>*)(gBf16 + i), out var low, out var high);
                    g0 = Vector.AsVectorSingle(Vector.ShiftLeft(low, 16));
                    g1 = Vector.AsVectorSingle(Vector.ShiftLeft(high, 16));
                }
                else
                {
                    g0 = *(Vector<float>*)(gF32 + i);
                    g1 = *(Vector<float>*)(gF32 + i + width);
                }
                var p0 = Step(p + i, m + i, v + i, g0, c, legacy);
                var p1 = Step(p + i + width, m + i + width, v + i + width, g1, c, legacy);
                if (copy is not null)
                    *(Vector<ushort>*)(copy + i) = Vector.Narrow(BFloat16Bits.Round(p0), BFloat16Bits.Round(p1));
            }
        }
        for (; i < length; i++)
        {
            var gradient = gBf16 is not null ? BFloat16Bits.ToSingle(gBf16[i]) : gF32[i];
            var value = StepScalar(ref p[i], ref m[i], ref v[i], gradient, c, legacy);
            if (copy is not null)
                copy[i] = BFloat16Bits.Round(value);
        }
    }

    // Each line is one of AdamWMath's tensor operations, in its order.
    private static Vector<float> Step(float* pp, float* mp, float* vp, Vector<float> gradient, Coefficients c, bool legacy)
    {
        var g = gradient * c.GradFactor;
        var p = *(Vector<float>*)pp;
        var m = *(Vector<float>*)mp;
        var v = *(Vector<float>*)vp;
        if (!legacy)
            p *= c.Decay;                                      // target.mul_(1 - lr * wd)
        m += (g - m) * c.OneMinusBeta1;                              // expAvg.lerp_(grad, 1 - beta1)
        v = v * c.Beta2 + g * c.OneMinusBeta2 * g;                   // expAvgSq.mul_(beta2).addcmul_(grad, grad, 1 - beta2)
        var denominator = Vector.SquareRoot(v) / c.BiasCorrection2Sqrt + new Vector<float>(c.Epsilon);
        p += m / denominator * c.StepSize;                           // target.addcdiv_(expAvg, denominator, step size)
        if (legacy)
            p *= c.Decay;
        *(Vector<float>*)pp = p;
        *(Vector<float>*)mp = m;
        *(Vector<float>*)vp = v;
        return p;
    }

    private static float StepScalar(ref float p, ref float m, ref float v, float gradient, Coefficients c, bool legacy)
    {
        var g = gradient * c.GradFactor;
        if (!legacy)
            p *= c.Decay;
        m += (g - m) * c.OneMinusBeta1;
        v = v * c.Beta2 + g * c.OneMinusBeta2 * g;
        var denominator = MathF.Sqrt(v) / c.BiasCorrection2Sqrt + c.Epsilon;
        p += m / denominator * c.StepSize;
        if (legacy)
            p *= c.Decay;
        return p;
    }

    private static double SquaresOfFloat32(float* data, int length)
    {
        var width = Vector<float>.Count;
        var sum = Vector<float>.Zero;
        var i = 0;
        for (; i + width <= length; i += width)
        {
            var x = *(Vector<float>*)(data + i);
            sum += x * x;
        }
        double total = Vector.Sum(sum);
        for (; i < length; i++)
            total += (double)data[i] * data[i];
        return total;
    }

    private static double SquaresOfBFloat16(ushort* data, int length)
    {
        var width = Vector<ushort>.Count;
        var sum = Vector<float>.Zero;
        var i = 0;
        if (Vector<ushort>.Count == 2 * Vector<float>.Count)
        {
            for (; i + width <= length; i += width)
            {
                Vector.Widen(*(Vector<ushort>*)(data + i), out var low, out var high);
                var a = Vector.AsVectorSingle(Vector.ShiftLeft(low, 16));
                var b = Vector.AsVectorSingle(Vector.ShiftLeft(high, 16));
                sum += a * a + b * b;
            }
        }
        double total = Vector.Sum(sum);
        for (; i < length; i++)
        {
            double x = BFloat16Bits.ToSingle(data[i]);
            total += x * x;
        }
        return total;
    }
}
