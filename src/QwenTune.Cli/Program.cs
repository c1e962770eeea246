using QwenTune.Cli.Commands;

namespace QwenTune.Cli;

internal static class Program
{
    private static readonly ICommand[] Commands =
    [
        new TrainCommand(), new EvalCommand(), new RenderCommand(), new TokenizeCommand(), new MergeCommand(), new InitCommand(),
        new ChatCommand(), new GenerateCommand(), new EstimateCommand(), new PlotCommand(),
    ];

    private static int Main(string[] args)
    {
        // Training allocates and frees hundreds of megabytes a step: those commands restart under a faster allocator.
        if (args is ["train" or "eval", ..])
            Runtime.NativeAllocator.RestartWithChosenAllocator();
        if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
        {
            PrintUsage(Console.Out);
            return args.Length == 0 ? 2 : 0;
        }
        var command = Commands.FirstOrDefault(c => c.Name == args[0]);
        if (command is null)
        {
            Console.Error.WriteLine($"qwentune: unknown command '{args[0]}'.");
            PrintUsage(Console.Error);
            return 2;
        }
        return CommandRunner.Run(command, args[1..], Commands);
    }

    private static void PrintUsage(TextWriter writer)
    {
        writer.WriteLine("usage: qwentune <command> [--flag value ...]   (qwentune <command> --help for its flags)");
        writer.WriteLine();
        foreach (var command in Commands)
            writer.WriteLine($"  {command.Name,-10} {command.Summary}");
    }
}
