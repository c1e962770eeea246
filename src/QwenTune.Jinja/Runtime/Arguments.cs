namespace QwenTune.Jinja.Runtime;

/// <summary>The evaluated arguments of one call, before binding to a <see cref="Signature"/>.</summary>
internal readonly record struct Arguments(object?[] Positional, string[] Names, object?[] NamedValues)
{
    public static readonly Arguments None = new([], [], []);

    public BoundArguments Bind(string callee, Signature signature)
    {
        var error = signature.Check(callee, Positional.Length, Names);
        if (error is not null)
            throw new JinjaError(error);
        var values = new object?[signature.Parameters.Length];
        Array.Fill(values, BoundArguments.Missing);
        var count = Math.Min(Positional.Length, values.Length);
        Array.Copy(Positional, values, count);
        var extra = Positional.Length > count ? Positional[count..] : [];
        List<KeyValuePair<string, object?>>? extraNamed = null;
        for (var i = 0; i < Names.Length; i++)
        {
            var index = Array.IndexOf(signature.Parameters, Names[i]);
            if (index >= 0)
                values[index] = NamedValues[i];
            else
                (extraNamed ??= []).Add(new(Names[i], NamedValues[i]));
        }
        return new BoundArguments(callee, signature, values, extra, extraNamed ?? []);
    }
}
