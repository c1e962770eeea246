using System.Globalization;
using System.Reflection;
using System.Text;

namespace QwenTune.Configuration;

/// <summary>
/// Binds `--flag value` arguments to immutable arguments records, the way Hugging Face's HfArgumentParser
/// binds dataclasses: `--x value`, `--x=value`, booleans as `--x True|False` or a bare `--x`, lists as
/// `--x a b c` or `--x a,b,c`; a repeated flag's last value wins. Unknown flags fail with the closest valid name, and HF
/// TrainingArguments that are not taken here with the reason (<see cref="UnsupportedHfArguments"/>).
/// </summary>
public sealed class HfArgumentParser
{
    private readonly Type[] _groups;
    private readonly Dictionary<string, (Type Group, PropertyInfo Property, OptionAttribute Option)> _options = new(StringComparer.Ordinal);

    private readonly Func<string, string?>? _explainUnknown;

    public HfArgumentParser(params Type[] groups)
        : this(groups, only: null, explainUnknown: null)
    {
    }

    /// <param name="only">When given, the flags this command binds; the groups' other flags are unknown to it.</param>
    /// <param name="explainUnknown">The message for a flag this parser does not bind (e.g. which other command takes it), or null for the default.</param>
    public HfArgumentParser(Type[] groups, IReadOnlySet<string>? only, Func<string, string?>? explainUnknown)
    {
        _groups = groups;
        _explainUnknown = explainUnknown;
        foreach (var group in groups)
        {
            foreach (var property in group.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            {
                if (property.GetCustomAttribute<OptionAttribute>() is not { } option || (only is not null && !only.Contains(option.Name)))
                    continue;
                foreach (var name in option.Aliases.Prepend(option.Name))
                    _options.Add(name, (group, property, option));
            }
        }
    }

    public IEnumerable<string> OptionNames => _options.Keys;

    /// <summary>The canonical flag names (no aliases) each group declares.</summary>
    public static IEnumerable<string> DeclaredOptions(params Type[] groups) =>
        groups.SelectMany(g => g.GetProperties(BindingFlags.Public | BindingFlags.Instance))
            .Select(p => p.GetCustomAttribute<OptionAttribute>()?.Name)
            .OfType<string>();

    /// <summary>
    /// Parses <paramref name="args"/> into one instance of each group, in the constructor's order, and the canonical
    /// names of the flags that were given (so a caller can tell an explicit value from a default).
    /// </summary>
    public ParsedArguments Parse(IReadOnlyList<string> args)
    {
        var instances = _groups.Select(g => Activator.CreateInstance(g)
            ?? throw new InvalidOperationException($"{g.Name} needs a parameterless constructor")).ToArray();
        var given = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < args.Count; i++)
        {
            var token = args[i];
            if (!token.StartsWith("--", StringComparison.Ordinal) || token.Length == 2)
                throw new QwenTuneException($"unexpected argument '{token}': options are written --name value.");
            var name = token[2..];
            string? inlineValue = null;
            var equals = name.IndexOf('=');
            if (equals >= 0)
            {
                inlineValue = name[(equals + 1)..];
                name = name[..equals];
            }
            name = name.Replace('-', '_');
            if (!_options.TryGetValue(name, out var target))
                throw new QwenTuneException(_explainUnknown?.Invoke(name) ?? UnsupportedHfArguments.Explain(name)
                    ?? $"unknown option --{name}{Suggestion(name)}; run with --help for the list.");
            given.Add(target.Option.Name);
            // As with argparse (and so Hugging Face), a repeated flag's last value wins.
            var values = new List<string>();
            if (inlineValue is not null)
                values.Add(inlineValue);
            else
            {
                while (i + 1 < args.Count && !IsOptionToken(args[i + 1]))
                    values.Add(args[++i]);
            }
            var value = Convert(target.Property.PropertyType, target.Option, values);
            var instance = instances[Array.IndexOf(_groups, target.Group)];
            target.Property.SetValue(instance, value);
        }
        return new ParsedArguments(instances, given);
    }

    /// <summary>--help text: one section per group, each flag with its type, default and help.</summary>
    public string Help(string usage)
    {
        var text = new StringBuilder(usage).AppendLine();
        foreach (var group in _groups)
        {
            var defaults = Activator.CreateInstance(group);
            var title = group.GetCustomAttribute<OptionGroupAttribute>()?.Title ?? group.Name;
            var header = false;
            foreach (var property in group.GetProperties())
            {
                if (property.GetCustomAttribute<OptionAttribute>() is not { } option || !_options.ContainsKey(option.Name))
                    continue;
                if (!header)
                {
                    text.AppendLine().AppendLine(title + ":");
                    header = true;
                }
                var kind = option.Choices.Length > 0 ? "{" + string.Join(",", option.Choices) + "}" : TypeName(property.PropertyType);
                var defaultValue = Format(property.GetValue(defaults));
                var aliases = string.Concat(option.Aliases.Select(a => $" (or --{a} {kind})"));
                text.Append(CultureInfo.InvariantCulture, $"  --{option.Name} {kind}{aliases}").AppendLine();
                text.Append(CultureInfo.InvariantCulture, $"      {option.Help}{(defaultValue is null ? "" : $" (default: {defaultValue})")}").AppendLine();
            }
        }
        return text.ToString();
    }

    private static bool IsOptionToken(string token) =>
        token.StartsWith("--", StringComparison.Ordinal) && token.Length > 2 && !char.IsDigit(token[2]);

    private static object? Convert(Type type, OptionAttribute option, List<string> values)
    {
        var flag = "--" + option.Name;
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        if (underlying == typeof(bool))
        {
            if (values.Count == 0)
                return true;
            return values.Count == 1 ? ParseBool(flag, values[0]) : throw TooMany(flag, values);
        }
        if (typeof(IReadOnlyList<string>).IsAssignableFrom(underlying) || underlying == typeof(string[]))
        {
            var items = values.SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();
            if (items.Length == 0)
                throw new QwenTuneException($"{flag} needs at least one value.");
            foreach (var item in items)
                CheckChoice(flag, option, item);
            return items;
        }
        if (values.Count == 0)
            throw new QwenTuneException($"{flag} needs a value ({TypeName(type)}).");
        if (values.Count > 1)
            throw TooMany(flag, values);
        var raw = values[0];
        if (type != underlying && raw is "None" or "none" or "null")
            return null;
        if (underlying == typeof(string))
        {
            CheckChoice(flag, option, raw);
            return raw;
        }
        if (underlying == typeof(int) && int.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var i))
            return i;
        if (underlying == typeof(long) && long.TryParse(raw, NumberStyles.Integer, CultureInfo.InvariantCulture, out var l))
            return l;
        if (underlying == typeof(double) && double.TryParse(raw, NumberStyles.Float, CultureInfo.InvariantCulture, out var d) && double.IsFinite(d))
            return d;
        throw new QwenTuneException($"{flag} expects {TypeName(type)}, got '{raw}'.");
    }

    private static bool ParseBool(string flag, string raw) => raw.ToLowerInvariant() switch
    {
        "true" or "1" or "yes" or "y" => true,
        "false" or "0" or "no" or "n" => false,
        _ => throw new QwenTuneException($"{flag} expects True or False, got '{raw}'."),
    };

    private static QwenTuneException TooMany(string flag, List<string> values) =>
        new($"{flag} takes one value, got {values.Count}: {string.Join(" ", values)}.");

    private static void CheckChoice(string flag, OptionAttribute option, string value)
    {
        if (option.Choices.Length > 0 && !option.Choices.Contains(value, StringComparer.Ordinal))
            throw new QwenTuneException($"{flag} '{value}' is not one of: {string.Join(", ", option.Choices)}.");
    }

    private string Suggestion(string name)
    {
        var best = _options.Keys.MinBy(k => EditDistance(k, name));
        return best is not null && EditDistance(best, name) <= Math.Max(2, name.Length / 3) ? $" (did you mean --{best}?)" : "";
    }

    internal static int EditDistance(string a, string b)
    {
        var previous = new int[b.Length + 1];
        var current = new int[b.Length + 1];
        for (var j = 0; j <= b.Length; j++)
            previous[j] = j;
        for (var i = 1; i <= a.Length; i++)
        {
            current[0] = i;
            for (var j = 1; j <= b.Length; j++)
            {
                var substitution = previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1);
                current[j] = Math.Min(substitution, Math.Min(previous[j] + 1, current[j - 1] + 1));
            }
            (previous, current) = (current, previous);
        }
        return previous[b.Length];
    }

    private static string TypeName(Type type)
    {
        var underlying = Nullable.GetUnderlyingType(type) ?? type;
        return underlying == typeof(bool) ? "BOOL"
            : underlying == typeof(int) || underlying == typeof(long) ? "INT"
            : underlying == typeof(double) ? "FLOAT"
            : underlying == typeof(string) ? "STR"
            : "LIST";
    }

    private static string? Format(object? value) => value switch
    {
        null => null,
        bool b => b ? "True" : "False",
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IEnumerable<string> list => string.Join(",", list),
        _ => System.Convert.ToString(value, CultureInfo.InvariantCulture),
    };
}
