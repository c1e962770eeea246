using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Quantization;

/// <summary>
/// A frozen weight stored as NF4: per block of <see cref="BlockSize"/> consecutive values (row-major), one absmax
/// constant and a 4-bit index into <see cref="Nf4.Codes"/> per value, two per byte with the first value in the high
/// nibble (bitsandbytes' packing). With double quantisation (QLoRA section 3) the fp32 absmax constants are stored as
/// 8-bit codes of bitsandbytes' dynamic map (<see cref="Nf4.DynamicMap"/>): their mean is subtracted (bitsandbytes'
/// nested-quant offset) and each group of <see cref="AbsmaxBlockSize"/> centred constants gets its own fp32 absmax.
/// All tensors stay on the device of the weight that was quantised.
/// </summary>
public sealed class Nf4Tensor : IDisposable
{
    // Blocks handled per pass, so that quantising or dequantising a huge matrix never materialises more than a few
    // fp32/int copies of 4M values at once (the transient memory a 4096x4096 weight would otherwise cost 10x over).
    private const long ChunkElements = 1L << 22;

    private readonly long[] _shape;

    // Exactly one absmax representation is present: fp32 constants, or (codes, group scales, offset).
    private readonly Tensor _packedCodes;             // (paddedNumel / 2) uint8
    private readonly Tensor? _absmax;                 // (blocks) fp32, without double quantisation
    private readonly Tensor? _absmaxCodes;            // (blocks) uint8, indices into Nf4.DynamicMap
    private readonly Tensor? _absmaxScales;           // (ceil(blocks / absmaxBlockSize)) fp32
    private readonly Tensor? _absmaxOffset;           // () fp32, the mean of the absmax constants

    private Nf4Tensor(long[] shape, ScalarType originalDtype, int blockSize, int absmaxBlockSize, Tensor packedCodes,
        Tensor? absmax, Tensor? absmaxCodes, Tensor? absmaxScales, Tensor? absmaxOffset)
    {
        _shape = shape;
        OriginalDtype = originalDtype;
        BlockSize = blockSize;
        AbsmaxBlockSize = absmaxBlockSize;
        // Owned by this object for its whole life, whatever DisposeScope was open when it was made.
        _packedCodes = packedCodes.DetachFromDisposeScope();
        _absmax = absmax?.DetachFromDisposeScope();
        _absmaxCodes = absmaxCodes?.DetachFromDisposeScope();
        _absmaxScales = absmaxScales?.DetachFromDisposeScope();
        _absmaxOffset = absmaxOffset?.DetachFromDisposeScope();
    }

    /// <summary>The shape of the original weight.</summary>
    public IReadOnlyList<long> Shape => _shape;

    /// <summary>The element type of the original weight (what <see cref="Dequantize()"/> returns).</summary>
    public ScalarType OriginalDtype { get; }

    public int BlockSize { get; }

    /// <summary>Blocks of absmax constants sharing one second-level constant; 0 without double quantisation.</summary>
    public int AbsmaxBlockSize { get; }

    public bool IsDoubleQuantized => _absmax is null;

    public long NumElements => _shape.Aggregate(1L, (a, b) => a * b);

    public long BlockCount => (NumElements + BlockSize - 1) / BlockSize;

    public Device Device => _packedCodes.device;

    /// <summary>
    /// Bytes held for this weight: the packed codes, the (quantised) absmax constants and the second-level constants.
    /// The 16-entry NF4 table and 256-entry dynamic map are constants of the format, shared by every weight, and not
    /// counted. About 0.5 + 1/64 + 4/(64*256) bytes per value with double quantisation, 0.5 + 4/64 without.
    /// </summary>
    public long StorageBytes =>
        BytesOf(_packedCodes) + BytesOf(_absmax) + BytesOf(_absmaxCodes) + BytesOf(_absmaxScales) + BytesOf(_absmaxOffset);

    internal Tensor PackedCodes => _packedCodes;

    internal IEnumerable<Tensor> StoredTensors =>
        new[] { _packedCodes, _absmax, _absmaxCodes, _absmaxScales, _absmaxOffset }.OfType<Tensor>();

    /// <summary>
    /// Quantises <paramref name="weight"/> (any floating dtype, any device) to NF4 on the same device. A final partial
    /// block is padded with zeros, which changes neither its absmax nor the stored shape.
    /// </summary>
    public static Nf4Tensor Quantize(Tensor weight, int blockSize = Nf4.DefaultBlockSize, bool doubleQuant = true,
        int absmaxBlockSize = Nf4.DefaultAbsmaxBlockSize)
    {
        ArgumentNullException.ThrowIfNull(weight);
        if (!is_floating_point(weight.dtype))
            throw new QwenTuneException($"NF4 quantisation needs a floating-point weight, got {weight.dtype}: quantise only the weights of linear layers.");
        if (weight.numel() == 0)
            throw new QwenTuneException($"NF4 quantisation got an empty weight of shape [{string.Join(", ", weight.shape)}]: check the checkpoint for that key.");
        if (blockSize < 2 || blockSize % 2 != 0)
            throw new QwenTuneException($"NF4 block size must be a positive even number (two codes per byte), got {blockSize}; QLoRA uses 64.");
        if (doubleQuant && absmaxBlockSize < 1)
            throw new QwenTuneException($"The absmax block size for double quantisation must be positive, got {absmaxBlockSize}; QLoRA uses 256.");

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var tables = Nf4.TablesOn(weight.device);
        var flat = weight.detach().reshape(-1);                          // row-major order, as bitsandbytes flattens
        var numel = flat.shape[0];
        var blocks = (numel + blockSize - 1) / blockSize;
        var packed = empty(blocks * blockSize / 2, ScalarType.Byte, weight.device);
        var absmax = empty(blocks, ScalarType.Float32, weight.device);
        foreach (var (firstBlock, blockCount) in Chunks(blocks, blockSize))
        {
            using var chunkScope = NewDisposeScope();
            var values = PaddedChunk(flat, firstBlock * blockSize, blockCount * blockSize)
                .to(ScalarType.Float32).view(blockCount, blockSize);           // (blocks, blockSize)
            var blockAbsmax = values.abs().amax(1);                             // (blocks)
            var codes = NearestCode(values / SafeDivisor(blockAbsmax).unsqueeze(1), tables.CodeMidpoints)
                .view(-1, 2);                                                   // (blocks * blockSize / 2, 2)
            var bytes = codes.select(1, 0).mul(16).add(codes.select(1, 1));     // first value in the high nibble
            packed.narrow(0, firstBlock * blockSize / 2, blockCount * blockSize / 2).copy_(bytes);
            absmax.narrow(0, firstBlock, blockCount).copy_(blockAbsmax);
        }

        var shape = weight.shape.ToArray();
        if (!doubleQuant)
            return new Nf4Tensor(shape, weight.dtype, blockSize, 0, packed, absmax, null, null, null);

        var offset = absmax.mean();
        var groups = (blocks + absmaxBlockSize - 1) / absmaxBlockSize;
        var centred = PaddedChunk(absmax - offset, 0, groups * absmaxBlockSize)
            .view(groups, absmaxBlockSize);                                     // (groups, absmaxBlockSize)
        var scales = centred.abs().amax(1);                                     // (groups)
        var absmaxCodes = NearestCode(centred / SafeDivisor(scales).unsqueeze(1), tables.DynamicMidpoints)
            .view(-1).narrow(0, 0, blocks).contiguous();
        return new Nf4Tensor(shape, weight.dtype, blockSize, absmaxBlockSize, packed, null, absmaxCodes, scales, offset);
    }

    /// <summary>The weight in its original dtype and shape.</summary>
    public Tensor Dequantize() => Dequantize(OriginalDtype);

    /// <summary>
    /// The weight in <paramref name="dtype"/>, shaped like the original, on <see cref="Device"/>. Each value is
    /// code * absmax computed in fp32 and rounded once to <paramref name="dtype"/>, as bitsandbytes does.
    /// </summary>
    public Tensor Dequantize(ScalarType dtype)
    {
        if (!is_floating_point(dtype))
            throw new ArgumentException($"NF4 weights dequantise to a floating-point type, not {dtype}.", nameof(dtype));
        ObjectDisposedException.ThrowIf(_packedCodes.IsInvalid, this);

        using var noGrad = no_grad();
        using var scope = NewDisposeScope();
        var tables = Nf4.TablesOn(Device);
        var absmax = DequantizeAbsmax();
        var numel = NumElements;
        var result = empty(numel, dtype, Device);
        foreach (var (firstBlock, blockCount) in Chunks(BlockCount, BlockSize))
        {
            using var chunkScope = NewDisposeScope();
            var bytes = _packedCodes.narrow(0, firstBlock * BlockSize / 2, blockCount * BlockSize / 2);
            var values = tables.BytePairs.index_select(0, bytes.to(ScalarType.Int32))    // (bytes, 2)
                .view(blockCount, BlockSize)
                .mul_(absmax.narrow(0, firstBlock, blockCount).unsqueeze(1));           // (blocks, blockSize)
            var first = firstBlock * BlockSize;
            var length = Math.Min(blockCount * BlockSize, numel - first);
            result.narrow(0, first, length).copy_(values.view(-1).narrow(0, 0, length));
        }
        return result.view(_shape).MoveToOuterDisposeScope();
    }

    /// <summary>The fp32 absmax constant of every block, after undoing double quantisation if it was applied.</summary>
    internal Tensor DequantizeAbsmax()
    {
        if (_absmax is not null)
            return _absmax.alias();
        using var scope = NewDisposeScope();
        var tables = Nf4.TablesOn(Device);
        var scales = _absmaxScales!.repeat_interleave(AbsmaxBlockSize).narrow(0, 0, BlockCount);
        var absmax = tables.DynamicMap.index_select(0, _absmaxCodes!.to(ScalarType.Int32)).mul_(scales).add_(_absmaxOffset!);
        return absmax.MoveToOuterDisposeScope();
    }

    /// <summary>A copy on <paramref name="device"/> (this one is left as it is).</summary>
    public Nf4Tensor To(Device device)
    {
        ArgumentNullException.ThrowIfNull(device);
        using var scope = NewDisposeScope();
        return new Nf4Tensor(_shape, OriginalDtype, BlockSize, AbsmaxBlockSize, _packedCodes.to(device),
            _absmax?.to(device), _absmaxCodes?.to(device), _absmaxScales?.to(device), _absmaxOffset?.to(device));
    }

    public void Dispose()
    {
        foreach (var stored in StoredTensors)
            stored.Dispose();
    }

    // Whole blocks per pass, and at least one block.
    private static IEnumerable<(long FirstBlock, long BlockCount)> Chunks(long blocks, int blockSize)
    {
        var perChunk = Math.Max(1, ChunkElements / blockSize);
        for (var first = 0L; first < blocks; first += perChunk)
            yield return (first, Math.Min(perChunk, blocks - first));
    }

    // flat[start .. start + length), zero-padded where it runs past the end.
    private static Tensor PaddedChunk(Tensor flat, long start, long length)
    {
        var available = Math.Min(length, flat.shape[0] - start);
        var chunk = flat.narrow(0, start, available);
        return available == length ? chunk : cat([chunk, zeros(length - available, flat.dtype, flat.device)]);
    }

    // An all-zero block keeps absmax 0 (so it dequantises to zeros) but divides by 1 instead of 0.
    private static Tensor SafeDivisor(Tensor absmax) => where(absmax > 0, absmax, ones_like(absmax));

    // Index of the nearest value of a sorted map; a value on a midpoint takes the lower code.
    private static Tensor NearestCode(Tensor normalized, Tensor midpoints) =>
        bucketize(normalized, midpoints, outInt32: true, right: false).to(ScalarType.Byte);

    private static long BytesOf(Tensor? stored) => stored is null ? 0 : stored.numel() * stored.ElementSize;
}
