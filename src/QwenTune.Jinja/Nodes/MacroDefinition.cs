namespace QwenTune.Jinja.Nodes;

internal sealed record MacroParameter(string Name, Expr? Default);

internal sealed record MacroDefinition(string Name, IReadOnlyList<MacroParameter> Parameters, IReadOnlyList<Statement> Body);
