using QwenTune.Text;

namespace QwenTune.Data;

/// <summary>
/// A conversation to training features: render with the model's chat template, tokenize, and label. By
/// default only assistant replies are targets: every token overlapping the text from just after
/// `&lt;|im_start|&gt;assistant\n` through the closing `&lt;|im_end|&gt;` inclusive. Working on character offsets
/// (not token patterns) keeps this right when the reply's first characters merge with the header's newline
/// into one token. With <c>trainOnPrompt</c> every token is a target (Qwen's example). Samples are truncated
/// to <c>maxLength</c> tokens; one left with no target token yields null.
/// </summary>
public sealed class SftFeaturizer(QwenTokenizer tokenizer, ChatTemplate template, int maxLength, bool trainOnPrompt)
{
    public const string AssistantHeader = "<|im_start|>assistant\n";
    public const string TurnEnd = "<|im_end|>";

    public SftExample? Featurize(ChatSample sample)
    {
        string text;
        try
        {
            text = tokenizer.Normalize(template.Render(sample.Messages, sample.Tools, addGenerationPrompt: false));
        }
        catch (QwenTuneException e)
        {
            throw new QwenTuneException($"{sample.Location}: {e.Message}");
        }
        var spans = trainOnPrompt ? null : AssistantSpans(text);
        if (spans is { Count: 0 })
            throw new QwenTuneException(
                $"{sample.Location}: the rendered conversation has no '<|im_start|>assistant' turn; assistant-only labels need a ChatML template (or pass --train_on_prompt True).");
        return Label(text, sample.Location, spans);
    }

    /// <summary>Tokenizes already rendered text and assigns labels.</summary>
    public SftExample? Label(string normalizedText, SampleLocation location) =>
        Tokenize(normalizedText, location) is { TargetCount: > 0 } example ? example : null;

    /// <summary>As <see cref="Label(string, SampleLocation)"/>, but kept without any target (a prompt for generation).</summary>
    public SftExample Tokenize(string normalizedText, SampleLocation location) =>
        Tokenize(normalizedText, location, trainOnPrompt ? null : AssistantSpans(normalizedText));

    private SftExample? Label(string normalizedText, SampleLocation location, List<(int Start, int End)>? spans) =>
        Tokenize(normalizedText, location, spans) is { TargetCount: > 0 } example ? example : null;

    private SftExample Tokenize(string normalizedText, SampleLocation location, List<(int Start, int End)>? spans)
    {
        var tokens = tokenizer.EncodeWithOffsets(normalizedText);
        var length = Math.Min(tokens.Count, maxLength);
        var ids = new int[length];
        var labels = new int[length];
        for (var i = 0; i < length; i++)
        {
            var (id, start, end) = tokens[i];
            ids[i] = id;
            labels[i] = spans is null || Overlaps(spans, start, end) ? id : -100;
        }
        return new SftExample(ids, labels, normalizedText, location);
    }

    /// <summary>[start, end) character ranges of assistant replies, each including its closing &lt;|im_end|&gt;.</summary>
    public static List<(int Start, int End)> AssistantSpans(string text)
    {
        var spans = new List<(int, int)>();
        var at = 0;
        while ((at = text.IndexOf(AssistantHeader, at, StringComparison.Ordinal)) >= 0)
        {
            var start = at + AssistantHeader.Length;
            var close = text.IndexOf(TurnEnd, start, StringComparison.Ordinal);
            var end = close < 0 ? text.Length : close + TurnEnd.Length;
            spans.Add((start, end));
            at = end;
        }
        return spans;
    }

    private static bool Overlaps(List<(int Start, int End)> spans, int start, int end)
    {
        // Tokens holding only a continuation byte of a split character have empty ranges; they go with that character.
        if (end == start)
            end = start + 1;
        foreach (var (s, e) in spans)
        {
            if (start < e && end > s)
                return true;
        }
        return false;
    }
}
