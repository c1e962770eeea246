namespace QwenTune.Fuzz.Targets;

/// <summary>Every fuzz target, by name.</summary>
public static class FuzzTargets
{
    public static IReadOnlyList<IFuzzTarget> All { get; } =
    [
        new SafeTensorsTarget(),
        new ChatDataTarget(),
        new JinjaTarget(),
        new TokenizerJsonTarget(),
        new TokenizerConfigTarget(),
        new DeepSpeedConfigTarget(),
        new ArgumentsTarget(),
    ];

    public static IFuzzTarget? Find(string name) => All.FirstOrDefault(t => t.Name == name);
}
