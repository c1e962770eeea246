using System.Diagnostics;
using QwenTune.Generation;

namespace QwenTune.Cli.Commands;

/// <summary>
/// The chat loop: reads user lines, streams each reply as it decodes, and prints its speed on the status writer.
/// Ctrl-C during a reply stops that reply (the turn is kept, cut short); Ctrl-C at the prompt ends the session as usual.
/// </summary>
internal sealed class ChatRepl(GenerationSetup setup, ChatConversation conversation, TextWriter output, TextWriter status)
{
    private CancellationTokenSource? _reply;

    public void Run(TextReader input, bool interactive)
    {
        if (interactive)
            status.WriteLine("qwentune chat: type a message; /clear forgets the conversation, /system TEXT sets the system prompt, /exit leaves. Ctrl-C stops a reply.");
        while (true)
        {
            if (interactive)
                status.Write("> ");
            var line = input.ReadLine();
            if (line is null || line.Trim() == "/exit")
                return;
            if (!Command(line.Trim()))
                Answer(line);
        }
    }

    /// <summary>Adds the user turn, streams the reply to the output and keeps it in the conversation.</summary>
    public FinishReason Answer(string userText)
    {
        conversation.AddUser(userText);
        var stream = new TokenTextStream(setup.Loaded.Tokenizer);
        using var reply = _reply = new CancellationTokenSource();
        var clock = Stopwatch.StartNew();
        Console.CancelKeyPress += StopReply;
        GenerationResult result;
        try
        {
            result = setup.Generator.Generate([conversation.PromptIds()], setup.Selector,
                (_, token) =>
                {
                    output.Write(stream.Push(token));
                    output.Flush();
                },
                reply.Token);
        }
        finally
        {
            Console.CancelKeyPress -= StopReply;
            _reply = null;
        }
        output.WriteLine(stream.Flush());
        output.Flush();
        var sequence = result.Sequences[0];
        conversation.AddAssistant(setup.Loaded.Tokenizer.Decode(sequence.Tokens, skipSpecialTokens: true));
        var seconds = clock.Elapsed.TotalSeconds;
        var note = sequence.FinishReason switch
        {
            FinishReason.Length => $", stopped at max_new_tokens {setup.Config.MaxNewTokens}",
            FinishReason.Interrupted => ", interrupted",
            _ => "",
        };
        status.WriteLine($"[{sequence.Tokens.Count} tokens in {seconds:F1} s, {sequence.Tokens.Count / Math.Max(seconds, 1e-9):F1} tokens/s{note}]");
        return sequence.FinishReason;
    }

    /// <summary>Handles /clear, /system and unknown slash commands; false for a message to answer.</summary>
    private bool Command(string line)
    {
        if (line.Length == 0)
            return true;
        if (line == "/clear")
        {
            conversation.Clear();
            status.WriteLine("[conversation cleared]");
            return true;
        }
        if (line == "/system" || line.StartsWith("/system ", StringComparison.Ordinal))
        {
            conversation.SetSystem(line["/system".Length..].Trim());
            status.WriteLine(conversation.System is null ? "[system prompt reset to the template's; conversation cleared]" : "[system prompt set; conversation cleared]");
            return true;
        }
        if (line.StartsWith('/') && !line.Contains(' ', StringComparison.Ordinal))
        {
            status.WriteLine($"[unknown command {line}: /clear, /system TEXT, /exit]");
            return true;
        }
        return false;
    }

    private void StopReply(object? sender, ConsoleCancelEventArgs e)
    {
        if (_reply is not { } reply)
            return;
        e.Cancel = true;
        try
        {
            reply.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // The reply ended while the signal arrived.
        }
    }
}
