namespace QwenTune.Configuration;

/// <summary>What <see cref="HfArgumentParser"/> bound: one instance per group, and the canonical names of the flags given.</summary>
public sealed record ParsedArguments(IReadOnlyList<object> Groups, IReadOnlySet<string> Given)
{
    /// <summary>The instance of group <typeparamref name="T"/>.</summary>
    public T Get<T>() => Groups.OfType<T>().Single();
}
