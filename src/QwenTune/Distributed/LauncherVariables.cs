using System.Globalization;

namespace QwenTune.Distributed;

/// <summary>Reads launcher variables as integers, with errors that name the variable and its value.</summary>
internal sealed class LauncherVariables(IReadOnlyDictionary<string, string?> environment)
{
    public bool Has(string name) => environment.TryGetValue(name, out var value) && !string.IsNullOrWhiteSpace(value);

    public string Required(string name) => Has(name)
        ? environment[name]!.Trim()
        : throw new QwenTuneException($"The launcher set some of its variables but not {name}; the job's environment is incomplete.");

    public int Int(string name, int minimum, int? below = null, int? atMost = null)
    {
        var text = Required(name);
        if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var value) || value < minimum)
            throw Malformed(name, minimum == 0 ? "a non-negative integer" : $"an integer >= {minimum}");
        if (below is { } limit && value >= limit)
            throw Malformed(name, $"an integer below {limit}");
        if (atMost is { } most && value > most)
            throw Malformed(name, $"an integer no larger than {most}");
        return value;
    }

    public QwenTuneException Malformed(string name, string expected) =>
        new($"Environment variable {name}=\"{environment[name]}\" is not {expected}; was the process started by mpirun or srun?");
}
