using System.Text.Json.Nodes;
using QwenTune.Text;

namespace QwenTune.Generation;

/// <summary>
/// A multi-turn conversation rendered with the model's chat template for the next reply
/// (add_generation_prompt), as a chat REPL keeps it: an optional system prompt, then user and assistant turns.
/// </summary>
public sealed class ChatConversation(QwenTokenizer tokenizer, ChatTemplate template, string? system = null, bool? enableThinking = null)
{
    private readonly List<JsonObject> _turns = [];

    public string? System { get; private set; } = system;

    public int Turns => _turns.Count;

    /// <summary>Starts afresh with a new system prompt (null: the template's default).</summary>
    public void SetSystem(string? system)
    {
        System = string.IsNullOrEmpty(system) ? null : system;
        _turns.Clear();
    }

    public void Clear() => _turns.Clear();

    public void AddUser(string text) => _turns.Add(Message("user", text));

    public void AddAssistant(string text) => _turns.Add(Message("assistant", text));

    /// <summary>Drops the last turn (a user turn whose reply was interrupted, so it is not answered twice).</summary>
    public void RemoveLast() => _turns.RemoveAt(_turns.Count - 1);

    /// <summary>The token ids of the conversation so far, ending with the assistant header.</summary>
    public int[] PromptIds() => PromptIds(tokenizer, template, Messages(), enableThinking);

    /// <summary>
    /// Renders <paramref name="messages"/> for generation and tokenizes the text, as transformers'
    /// apply_chat_template(add_generation_prompt=True, tokenize=True) does.
    /// </summary>
    public static int[] PromptIds(QwenTokenizer tokenizer, ChatTemplate template, IReadOnlyList<JsonObject> messages, bool? enableThinking, JsonArray? tools = null)
    {
        var extra = enableThinking is { } thinking ? new Dictionary<string, object?> { ["enable_thinking"] = thinking } : null;
        return tokenizer.Encode(template.Render(messages, tools, addGenerationPrompt: true, extra));
    }

    private List<JsonObject> Messages() =>
        System is null ? [.. _turns.Select(m => (JsonObject)m.DeepClone())] : [Message("system", System), .. _turns.Select(m => (JsonObject)m.DeepClone())];

    private static JsonObject Message(string role, string content) => new() { ["role"] = role, ["content"] = content };
}
