namespace QwenTune.Cli.Commands;

/// <summary>One verb of the CLI: binds its arguments and calls the library.</summary>
internal interface ICommand
{
    string Name { get; }

    string Summary { get; }

    int Run(IReadOnlyList<string> args);
}
