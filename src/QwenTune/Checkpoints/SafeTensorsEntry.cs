using TorchSharp;

namespace QwenTune.Checkpoints;

/// <summary>
/// One tensor described by a safetensors header. <see cref="Begin"/> and <see cref="End"/> are byte offsets into
/// the data area that follows the header, as the format stores them.
/// </summary>
public sealed record SafeTensorsEntry(string Name, torch.ScalarType DType, IReadOnlyList<long> Shape, long Begin, long End)
{
    public long ByteCount => End - Begin;

    public long ElementCount => Shape.Aggregate(1L, (product, dim) => product * dim);

    public string ShapeText => "[" + string.Join(", ", Shape) + "]";
}
