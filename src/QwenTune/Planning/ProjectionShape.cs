namespace QwenTune.Planning;

/// <summary>One projection of a decoder layer: its Hugging Face name, fan-in, fan-out and whether it has a bias.</summary>
public sealed record ProjectionShape(string Name, long In, long Out, bool HasBias)
{
    public long WeightCount => In * Out;

    public long BiasCount => HasBias ? Out : 0;
}
