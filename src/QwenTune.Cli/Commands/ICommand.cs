using QwenTune.Configuration;

namespace QwenTune.Cli.Commands;

/// <summary>One verb of the CLI: binds its arguments and calls the library.</summary>
internal interface ICommand
{
    string Name { get; }

    string Summary { get; }

    /// <summary>The argument records this command binds, in --help order.</summary>
    Type[] ArgumentGroups { get; }

    /// <summary>The flags of <see cref="ArgumentGroups"/> this command uses; null for all of them. Any other flag is refused.</summary>
    IReadOnlySet<string>? Flags => null;

    /// <summary>The flag a leading bare argument stands for (`qwentune plot DIR` is `--output_dir DIR`); null for none.</summary>
    string? PositionalFlag => null;

    int Run(ParsedArguments arguments);
}
