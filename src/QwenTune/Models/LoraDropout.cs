using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using QwenTune.Checkpoints;
using static TorchSharp.torch;

namespace QwenTune.Models;

/// <summary>
/// PEFT's lora_dropout (inverted dropout on an adapter's input) with a counter-based mask: element i is kept when a hash
/// of (seed, i) is at or above p x 2^32, the seed being one draw from the run's generator per call. Forward writes
/// x x mask / (1 - p) in one pass and stores nothing; backward hashes the same counters again. libtorch's dropout
/// draws a bernoulli per element (about 6.5 ns each on this CPU), the 16-bit randint draw that replaced it about 4 and
/// kept a mask for backward; the hash costs well under one. Each call draws its own seed, so q, k and v of one layer
/// get independent masks, as under PEFT; a gradient-checkpointing recomputation restores the generator and so draws
/// the same seed. On CPU float32/bf16 with AVX2 the pass is vectorised, elsewhere it is composed of libtorch ops on the
/// same hash, so every device draws the same mask for the same seed; with AVX-512, sixteen lanes at a time.
/// </summary>
public sealed class LoraDropout : autograd.SingleTensorFunction<LoraDropout>
{
    public override string Name => nameof(LoraDropout);

    /// <summary>x with each element dropped with probability <paramref name="p"/> and the rest scaled by 1 / (1 - p).</summary>
    public static Tensor Apply(Tensor x, double p, Generator? generator)
    {
        using var draw = randint(0, uint.MaxValue + 1L, [1], ScalarType.Int64, generator: generator);
        var seed = (uint)draw.data<long>()[0];
        return apply(x, Threshold(p), (float)(1.0 / (1.0 - p)), seed);
    }

    /// <summary>The keep threshold on a 32-bit hash: drop probability p rounded to 1 / 2^32.</summary>
    internal static uint Threshold(double p) => (uint)Math.Min(uint.MaxValue, Math.Round(p * 4294967296.0));

    public override Tensor forward(autograd.AutogradContext ctx, params object[] vars)
    {
        var (x, threshold, scale, seed) = ((Tensor)vars[0], (uint)vars[1], (float)vars[2], (uint)vars[3]);
        ctx.save_data("mask", (threshold, scale, seed));
        using var noGrad = no_grad();
        return Masked(x, threshold, scale, seed);
    }

    public override List<Tensor> backward(autograd.AutogradContext ctx, Tensor gradOutput)
    {
        var (threshold, scale, seed) = ((uint, float, uint))ctx.get_data("mask");
        using var noGrad = no_grad();
        return [Masked(gradOutput, threshold, scale, seed), null!, null!, null!];
    }

    /// <summary>t x mask(seed) x scale, element i of t (in row-major order) taking mask element i.</summary>
    internal static unsafe Tensor Masked(Tensor t, uint threshold, float scale, uint seed)
    {
        var source = t.contiguous();
        if (source.device_type == TorchSharp.DeviceType.CPU && Avx2.IsSupported
            && source.dtype is ScalarType.Float32 or ScalarType.BFloat16)
        {
            var output = empty_like(source);
            var count = source.NumberOfElements;
            var input = TensorMemory.DataPointer(source);
            var result = TensorMemory.DataPointer(output);
            var isBFloat16 = source.dtype == ScalarType.BFloat16;
            const long chunk = 1 << 16;
            var chunks = (count + chunk - 1) / chunk;
            Parallel.For(0L, chunks, new ParallelOptions { MaxDegreeOfParallelism = Math.Max(1, get_num_threads()) }, c =>
            {
                var start = c * chunk;
                var length = (int)Math.Min(chunk, count - start);
                if (isBFloat16)
                    MaskBFloat16((ushort*)input + start, (ushort*)result + start, start, length, threshold, scale, seed);
                else
                    MaskFloat32((float*)input + start, (float*)result + start, start, length, threshold, scale, seed);
            });
            if (!ReferenceEquals(source, t))
                source.Dispose();
            return output;
        }
        using var scope = NewDisposeScope();
        using var index = arange(source.NumberOfElements, ScalarType.Int64, source.device);
        var keep = HashOps(index, seed).ge(threshold).view(source.shape);
        return source.mul(keep).mul_(scale).MoveToOuterDisposeScope();
    }

    /// <summary>The 32-bit hash of (seed, i): murmur3's finaliser of i's low 32 bits mixed with the seed and i's high bits.</summary>
    internal static uint Hash(uint seed, long i)
    {
        var h = (uint)i ^ seed ^ ((uint)(i >> 32) * 0x9E3779B9u);
        h ^= h >> 16;
        h *= 0x85EBCA6Bu;
        h ^= h >> 13;
        h *= 0xC2B2AE35u;
        h ^= h >> 16;
        return h;
    }

    /// <summary><see cref="Hash"/> of every element of an int64 index tensor, in libtorch ops (int64 arithmetic masked to 32 bits).</summary>
    private static Tensor HashOps(Tensor index, uint seed)
    {
        const long low = 0xFFFFFFFFL;
        var h = (index & low) ^ (long)seed ^ ((ShiftRight(index, 32) * 0x9E3779B9L) & low);
        h = h ^ ShiftRight(h, 16);
        h = (h * 0x85EBCA6BL) & low;
        h = h ^ ShiftRight(h, 13);
        h = (h * 0xC2B2AE35L) & low;
        return h ^ ShiftRight(h, 16);
    }

    private static Tensor ShiftRight(Tensor t, long bits)
    {
        using var amount = tensor(bits, ScalarType.Int64, t.device);
        return t.bitwise_right_shift(amount);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<uint> Hash(Vector256<uint> index, Vector256<uint> mixed)
    {
        var h = index ^ mixed;
        h ^= Avx2.ShiftRightLogical(h, 16);
        h = Avx2.MultiplyLow(h, Vector256.Create(0x85EBCA6Bu));
        h ^= Avx2.ShiftRightLogical(h, 13);
        h = Avx2.MultiplyLow(h, Vector256.Create(0xC2B2AE35u));
        return h ^ Avx2.ShiftRightLogical(h, 16);
    }

    /// <summary>Whether each hash is at or above the threshold (unsigned), as an all-ones/zero float mask.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Keeps(Vector256<uint> hash, Vector256<uint> threshold)
    {
        // Unsigned a >= b: max(a, b) == a.
        return Avx2.CompareEqual(Avx2.Max(hash, threshold), hash).AsSingle();
    }

    /// <summary>The keep mask of the eight elements at index <paramref name="at"/> (a multiple of 8) onwards.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<float> Keeps(long at, uint seed, Vector256<uint> thresholds)
    {
        var lanes = Vector256.Create(0u, 1, 2, 3, 4, 5, 6, 7);
        var mixed = Vector256.Create(seed ^ ((uint)(at >> 32) * 0x9E3779B9u));
        return Keeps(Hash(Vector256.Create((uint)at) + lanes, mixed), thresholds);
    }

    /// <summary>As the eight-lane <see cref="Hash(Vector256{uint}, Vector256{uint})"/> on sixteen lanes.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<uint> Hash(Vector512<uint> index, Vector512<uint> mixed)
    {
        var h = index ^ mixed;
        h ^= Avx512F.ShiftRightLogical(h, 16);
        h = Avx512F.MultiplyLow(h, Vector512.Create(0x85EBCA6Bu));
        h ^= Avx512F.ShiftRightLogical(h, 13);
        h = Avx512F.MultiplyLow(h, Vector512.Create(0xC2B2AE35u));
        return h ^ Avx512F.ShiftRightLogical(h, 16);
    }

    /// <summary>The keep mask of the sixteen elements at index <paramref name="at"/> (a multiple of 16) onwards.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> Keeps(long at, uint seed, Vector512<uint> thresholds)
    {
        var lanes = Vector512.Create(0u, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
        var mixed = Vector512.Create(seed ^ ((uint)(at >> 32) * 0x9E3779B9u));
        var hash = Hash(Vector512.Create((uint)at) + lanes, mixed);
        return Vector512.GreaterThanOrEqual(hash, thresholds).AsSingle();   // unsigned
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MaskFloat32(float* input, float* output, long start, int length, uint threshold, float scale, uint seed)
    {
        var i = 0;
        if (Avx512F.IsSupported)
        {
            var (thresholds16, scales16) = (Vector512.Create(threshold), Vector512.Create(scale));
            for (; i + 16 <= length; i += 16)
                Avx512F.Store(output + i, Vector512.BitwiseAnd(Avx512F.LoadVector512(input + i) * scales16, Keeps(start + i, seed, thresholds16)));
        }
        var thresholds = Vector256.Create(threshold);
        var scales = Vector256.Create(scale);
        for (; i + 8 <= length; i += 8)
        {
            var keep = Keeps(start + i, seed, thresholds);
            Avx.Store(output + i, Avx.And(Avx.LoadVector256(input + i) * scales, keep));
        }
        for (; i < length; i++)
            output[i] = Hash(seed, start + i) >= threshold ? input[i] * scale : 0f;
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void MaskBFloat16(ushort* input, ushort* output, long start, int length, uint threshold, float scale, uint seed)
    {
        var i = 0;
        if (Avx512BW.IsSupported)
        {
            var (thresholds16, scales16) = (Vector512.Create(threshold), Vector512.Create(scale));
            for (; i + 16 <= length; i += 16)
            {
                var masked = Vector512.BitwiseAnd(BFloat16Bits.LoadSixteen(input + i) * scales16, Keeps(start + i, seed, thresholds16));
                Avx.Store(output + i, BFloat16Bits.Narrow(masked));
            }
        }
        var thresholds = Vector256.Create(threshold);
        var scales = Vector256.Create(scale);
        for (; i + 8 <= length; i += 8)
        {
            var keep = Keeps(start + i, seed, thresholds);
            BFloat16Bits.Store(output + i, Avx.And(BFloat16Bits.Load(input + i) * scales, keep));
        }
        for (; i < length; i++)
        {
            var value = BFloat16Bits.ToSingle(input[i]);
            output[i] = Hash(seed, start + i) >= threshold ? BFloat16Bits.Round(value * scale) : (ushort)0;
        }
    }
}
