namespace QwenTune.Configuration;

/// <summary>
/// Marks an init property of an arguments record as a command-line flag, spelled as Hugging Face spells it
/// (`--learning_rate`). <see cref="Choices"/> restricts string values; <see cref="Aliases"/> accepts old names.
/// </summary>
[AttributeUsage(AttributeTargets.Property)]
public sealed class OptionAttribute(string name, string help) : Attribute
{
    public string Name { get; } = name;

    public string Help { get; } = help;

    public string[] Choices { get; init; } = [];

    public string[] Aliases { get; init; } = [];
}

/// <summary>Names the --help section an arguments record belongs to (model, data, training, LoRA).</summary>
[AttributeUsage(AttributeTargets.Class)]
public sealed class OptionGroupAttribute(string title) : Attribute
{
    public string Title { get; } = title;
}
