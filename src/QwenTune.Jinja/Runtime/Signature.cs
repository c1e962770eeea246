namespace QwenTune.Jinja.Runtime;

/// <summary>
/// The parameters of a built-in filter, test, method or function, in Python order, so calls bind
/// positional and keyword arguments as Python would and a bad call is reported at parse time.
/// </summary>
internal sealed class Signature
{
    public Signature(params string[] parameters) => Parameters = parameters;

    public string[] Parameters { get; }

    /// <summary>Accepts more positional arguments than it names (Python's <c>*args</c>).</summary>
    public bool ExtraPositional { get; init; }

    /// <summary>Accepts keywords it does not name (Python's <c>**kwargs</c>).</summary>
    public bool ExtraNamed { get; init; }

    /// <summary>How many leading parameters have no default and must be passed.</summary>
    public int Required { get; init; }

    /// <summary>Null when a call with these argument shapes binds, else why not.</summary>
    public string? Check(string callee, int positionalCount, IReadOnlyList<string> names)
    {
        if (positionalCount > Parameters.Length && !ExtraPositional)
            return $"{callee}() takes at most {Parameters.Length} argument{(Parameters.Length == 1 ? "" : "s")} ({positionalCount} given)";
        foreach (var name in names)
        {
            var index = Array.IndexOf(Parameters, name);
            if (index < 0 && !ExtraNamed)
                return $"{callee}() got an unexpected keyword argument '{name}'";
            if (index >= 0 && index < positionalCount)
                return $"{callee}() got multiple values for argument '{name}'";
        }
        for (var i = positionalCount; i < Required; i++)
        {
            if (!names.Contains(Parameters[i]))
                return $"{callee}() missing required argument '{Parameters[i]}'";
        }
        return null;
    }
}
