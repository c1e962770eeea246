using QwenTune.Checkpoints;
using TorchSharp;

namespace QwenTune.Fuzz.Targets;

/// <summary>A .safetensors file: header parse and validation, then every tensor read (offsets, dtypes, shapes).</summary>
public sealed class SafeTensorsTarget : IFuzzTarget
{
    public string Name => "safetensors";

    public string Description => "SafeTensorsReader.Open and Read of every tensor";

    public string InputFileName => "model.safetensors";

    public IReadOnlyList<string> Dictionary { get; } =
    [
        "\"dtype\"", "\"shape\"", "\"data_offsets\"", "\"__metadata__\"", "\"F32\"", "\"BF16\"", "\"F16\"", "\"I64\"",
        "\"U8\"", "\"BOOL\"", "\"F8_E4M3\"", "[0,0]", "[]", "[1,2]", "{}", "\"format\":\"pt\"", ",", ":", "\"\\u0000\"",
    ];

    public void Prepare(string workFolder) => Directory.CreateDirectory(workFolder);

    public void Execute(string inputPath, byte[] input)
    {
        using var scope = torch.NewDisposeScope();
        using var reader = SafeTensorsReader.Open(inputPath);
        foreach (var entry in reader.Entries)
            reader.Read(entry).Dispose();
    }
}
