using System.Text.Json.Nodes;
using QwenTune.Jinja;

namespace QwenTune.Text;

/// <summary>
/// A model's chat template (the Jinja `chat_template` of tokenizer_config.json), parsed once when the model
/// is loaded so that unsupported syntax fails then, with its line and column, never mid-training. Without
/// a template, ChatML is used (transformers' former default).
/// </summary>
public sealed class ChatTemplate
{
    /// <summary>ChatML as transformers rendered it for models without a template.</summary>
    public const string ChatMl =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
        "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    private readonly Template _template;
    private readonly Dictionary<string, object?> _specialTokens;

    private ChatTemplate(Template template, Dictionary<string, object?> specialTokens)
    {
        _template = template;
        _specialTokens = specialTokens;
    }

    public string Source { get; private init; } = "";

    public static ChatTemplate For(QwenTokenizer tokenizer, string origin)
    {
        var source = tokenizer.ChatTemplate ?? ChatMl;
        Template template;
        try
        {
            template = Template.Parse(source, origin);
        }
        catch (TemplateSyntaxException e)
        {
            throw new QwenTuneException($"{origin}: chat_template {e.Line}:{e.Column}: {e.Reason}");
        }
        var special = new Dictionary<string, object?>
        {
            ["eos_token"] = tokenizer.EosToken,
            ["bos_token"] = tokenizer.BosToken,
            ["pad_token"] = tokenizer.PadToken,
            ["unk_token"] = null,
        };
        return new ChatTemplate(template, special) { Source = source, IsFallback = tokenizer.ChatTemplate is null };
    }

    /// <summary>The model has no chat_template of its own, so plain ChatML (<see cref="ChatMl"/>) renders its conversations.</summary>
    public bool IsFallback { get; init; }

    /// <summary>What a command says once when <see cref="IsFallback"/>: the model's own template may differ.</summary>
    public static string FallbackNote(string modelDirectory) =>
        $"note: {modelDirectory} has no chat_template (tokenizer_config.json or chat_template.jinja), so conversations are rendered as " +
        "plain ChatML: no default system prompt is added (Qwen2.5's own template adds \"You are Qwen, created by Alibaba Cloud...\"). " +
        "Copy the base model's tokenizer_config.json if it should apply.";

    /// <summary>Renders messages as Hugging Face's apply_chat_template(tokenize=False) does.</summary>
    public string Render(IReadOnlyList<JsonObject> messages, JsonArray? tools, bool addGenerationPrompt,
        IReadOnlyDictionary<string, object?>? extra = null)
    {
        var context = new Dictionary<string, object?>(_specialTokens)
        {
            ["messages"] = JinjaValue.From(messages),
            ["add_generation_prompt"] = addGenerationPrompt,
        };
        if (tools is not null)
            context["tools"] = JinjaValue.FromJson(tools);
        foreach (var (key, value) in extra ?? new Dictionary<string, object?>())
            context[key] = value;
        try
        {
            return _template.Render(context);
        }
        catch (RaisedException e)
        {
            throw new QwenTuneException($"the chat template refused the conversation: {e.Reason}");
        }
        catch (TemplateRuntimeException e)
        {
            throw new QwenTuneException($"chat template error at {e.Line}:{e.Column}: {e.Reason}");
        }
    }
}
