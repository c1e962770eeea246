using QwenTune.Configuration;

namespace QwenTune.Cli.Commands;

/// <summary>
/// Runs a command and turns user-facing failures into one clear line on stderr and a non-zero exit code:
/// 2 for usage errors, 1 for everything else. Stack traces are for bugs only.
/// </summary>
internal static class CommandRunner
{
    public static int Run(ICommand command, IReadOnlyList<string> args)
    {
        try
        {
            return command.Run(args);
        }
        catch (UsageException e)
        {
            Console.Error.WriteLine($"qwentune {command.Name}: {e.Message}");
            return 2;
        }
        catch (QwenTuneException e)
        {
            Console.Error.WriteLine($"qwentune {command.Name}: error: {e.Message}");
            return 1;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"qwentune {command.Name}: error: {e.Message}");
            return 1;
        }
    }

    /// <summary>Parses arguments into the given groups, printing --help and exiting when asked.</summary>
    public static object[]? Parse(ICommand command, IReadOnlyList<string> args, params Type[] groups)
    {
        var parser = new HfArgumentParser(groups);
        if (args.Contains("--help") || args.Contains("-h"))
        {
            Console.Out.Write(parser.Help($"usage: qwentune {command.Name} [--flag value ...]\n{command.Summary}"));
            return null;
        }
        try
        {
            return parser.Parse(args);
        }
        catch (QwenTuneException e)
        {
            throw new UsageException(e.Message);
        }
    }
}

/// <summary>A malformed command line (exit code 2).</summary>
internal sealed class UsageException(string message) : Exception(message);
