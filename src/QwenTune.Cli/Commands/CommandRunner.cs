using QwenTune.Configuration;
using QwenTune.Distributed;

namespace QwenTune.Cli.Commands;

/// <summary>
/// Parses a command's flags and runs it, turning user-facing failures into one clear line on stderr and a non-zero
/// exit code: 2 for usage errors, 1 for everything else. Stack traces are for bugs only.
/// </summary>
internal static class CommandRunner
{
    public static int Run(ICommand command, IReadOnlyList<string> args, IReadOnlyList<ICommand> allCommands)
    {
        try
        {
            var parser = new HfArgumentParser(command.ArgumentGroups, command.Flags, name => ExplainUnknown(command, name, allCommands));
            if (args.Contains("--help") || args.Contains("-h"))
            {
                var bare = command.PositionalFlag is { } flag ? $" [{flag.ToUpperInvariant()}]" : "";
                Console.Out.Write(parser.Help($"usage: qwentune {command.Name}{bare} [--flag value ...]\n{command.Summary}"));
                return 0;
            }
            if (command.PositionalFlag is { } positional && args.Count > 0 && !args[0].StartsWith("--", StringComparison.Ordinal))
                args = ["--" + positional, .. args];
            ParsedArguments parsed;
            try
            {
                parsed = parser.Parse(args);
            }
            catch (QwenTuneException e)
            {
                throw new UsageException(e.Message);
            }
            return command.Run(parsed);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"{RankPrefix()}qwentune {command.Name}: {e.Message}");
            return 2;
        }
        catch (QwenTuneException e)
        {
            Console.Error.WriteLine($"{RankPrefix()}qwentune {command.Name}: error: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"{RankPrefix()}qwentune {command.Name}: error: {e.Message}");
            return 1;
        }
    }

    /// <summary>"[rank 3/8] " in a job of several ranks, so a message says which rank failed; "" otherwise.</summary>
    private static string RankPrefix()
    {
        try
        {
            var environment = DistributedEnvironment.Detect();
            return environment.WorldSize > 1 ? $"[rank {environment.Rank}/{environment.WorldSize}] " : "";
        }
        catch (QwenTuneException)
        {
            return "";
        }
    }

    /// <summary>The flags a command binds: its groups' flags, narrowed to <see cref="ICommand.Flags"/>.</summary>
    public static IEnumerable<string> FlagsOf(ICommand command) =>
        HfArgumentParser.DeclaredOptions(command.ArgumentGroups).Where(f => command.Flags?.Contains(f) ?? true);

    /// <summary>A flag another command takes is named as such, so `eval --learning_rate 1` says it is a `train` flag.</summary>
    private static string? ExplainUnknown(ICommand command, string name, IReadOnlyList<ICommand> allCommands)
    {
        var owners = allCommands.Where(c => c != command && FlagsOf(c).Contains(name)).Select(c => c.Name).ToList();
        return owners.Count == 0
            ? null
            : $"--{name} is not a flag of `qwentune {command.Name}` (it is one of `qwentune {string.Join("`, `qwentune ", owners)}`); " +
              $"run `qwentune {command.Name} --help` for its flags.";
    }
}

/// <summary>A malformed command line (exit code 2).</summary>
internal sealed class UsageException(string message) : Exception(message);
