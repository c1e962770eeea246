using QwenTune.Configuration;
using QwenTune.Generation;

namespace QwenTune.Cli.Commands;

/// <summary>Talks to a model: an interactive multi-turn session, or one answer with --prompt.</summary>
internal sealed class ChatCommand : ICommand
{
    public string Name => "chat";

    public string Summary => "Chat with a model (+ adapter): streamed replies, /clear, /system TEXT, /exit; --prompt answers once.";

    public Type[] ArgumentGroups => GenerationSetup.ArgumentGroups;

    public IReadOnlySet<string>? Flags { get; } = new HashSet<string>([.. GenerationSetup.Flags, "system", "prompt"]);

    public int Run(ParsedArguments arguments)
    {
        var flags = arguments.Get<GenerationArguments>();
        var setup = GenerationSetup.From(arguments);
        var conversation = new ChatConversation(setup.Loaded.Tokenizer, setup.Loaded.Template, flags.System, flags.EnableThinking);
        var repl = new ChatRepl(setup, conversation, Console.Out, Console.Error);
        if (flags.Prompt is { } prompt)
        {
            var reply = repl.Answer(prompt);
            return reply == FinishReason.Interrupted ? 130 : 0;
        }
        repl.Run(Console.In, interactive: !Console.IsInputRedirected);
        return 0;
    }
}
