namespace QwenTune.Text;

/// <summary>
/// An entry of tokenizer.json's <c>added_tokens</c>. <see cref="Special"/> tokens are the ones decoding can skip;
/// the others (<c>&lt;think&gt;</c>, <c>&lt;tool_call&gt;</c>) are matched in text all the same.
/// </summary>
internal sealed record AddedToken(int Id, string Content, bool Special);
