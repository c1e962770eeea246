namespace QwenTune.Cli.Commands;

/// <summary>Placeholder until the init verb lands (it writes the embedded default model).</summary>
internal sealed class InitCommand : ICommand
{
    public string Name => "init";

    public string Summary => "Initialise a model folder from a config.json with seeded weights (the embedded default).";

    public int Run(IReadOnlyList<string> args) => throw new QwenTune.QwenTuneException("init is not implemented yet.");
}
