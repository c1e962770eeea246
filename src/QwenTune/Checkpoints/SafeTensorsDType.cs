using TorchSharp;

namespace QwenTune.Checkpoints;

/// <summary>The safetensors dtype names this project reads and writes, and their TorchSharp types.</summary>
public static class SafeTensorsDType
{
    private static readonly (string Name, torch.ScalarType Type, int Size)[] Known =
    [
        ("F64", torch.ScalarType.Float64, 8),
        ("F32", torch.ScalarType.Float32, 4),
        ("F16", torch.ScalarType.Float16, 2),
        ("BF16", torch.ScalarType.BFloat16, 2),
        ("I64", torch.ScalarType.Int64, 8),
        ("I32", torch.ScalarType.Int32, 4),
        ("I16", torch.ScalarType.Int16, 2),
        ("I8", torch.ScalarType.Int8, 1),
        ("U8", torch.ScalarType.Byte, 1),
        ("BOOL", torch.ScalarType.Bool, 1),
    ];

    /// <summary>The supported names, for error messages.</summary>
    public static string SupportedNames => string.Join(", ", Known.Select(k => k.Name));

    /// <summary>The TorchSharp type of a safetensors dtype name (case-sensitive, as the format defines it).</summary>
    public static bool TryParse(string name, out torch.ScalarType type)
    {
        foreach (var known in Known)
        {
            if (known.Name == name)
            {
                type = known.Type;
                return true;
            }
        }
        type = default;
        return false;
    }

    /// <summary>The safetensors name of a TorchSharp type; throws for types the format (or this reader) lacks.</summary>
    public static string NameOf(torch.ScalarType type)
    {
        foreach (var known in Known)
        {
            if (known.Type == type)
                return known.Name;
        }
        throw new QwenTuneException(
            $"Tensors of type {type} cannot be saved as safetensors here; supported types: {SupportedNames}. " +
            "Convert the tensor (e.g. to Float32) before saving.");
    }

    /// <summary>Bytes per element.</summary>
    public static int ElementSize(torch.ScalarType type)
    {
        foreach (var known in Known)
        {
            if (known.Type == type)
                return known.Size;
        }
        throw new QwenTuneException($"Unsupported tensor type {type}; supported: {SupportedNames}.");
    }
}
