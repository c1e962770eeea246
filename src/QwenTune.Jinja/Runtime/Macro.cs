using System.Text;
using QwenTune.Jinja.Nodes;

namespace QwenTune.Jinja.Runtime;

/// <summary>
/// A macro value: calling it renders its body in a new scope over the scope it was defined in
/// and returns the text. Parameters not passed take their default or are Undefined, as in Jinja.
/// </summary>
internal sealed class Macro(MacroDefinition definition, Frame closure)
{
    public string Name => definition.Name;

    public string Invoke(RenderContext context, Arguments arguments)
    {
        var parameters = definition.Parameters;
        if (arguments.Positional.Length > parameters.Count)
            throw new JinjaError($"macro '{Name}' takes not more than {parameters.Count} argument(s)");
        var frame = new Frame(context, closure);
        var passed = new object?[parameters.Count];
        var given = new bool[parameters.Count];
        for (var i = 0; i < arguments.Positional.Length; i++)
            (passed[i], given[i]) = (arguments.Positional[i], true);
        for (var i = 0; i < arguments.Names.Length; i++)
        {
            var index = parameters.ToList().FindIndex(p => p.Name == arguments.Names[i]);
            if (index < 0)
                throw new JinjaError($"macro '{Name}' takes no keyword argument '{arguments.Names[i]}'");
            if (given[index])
                throw new JinjaError($"macro '{Name}' got multiple values for argument '{arguments.Names[i]}'");
            (passed[index], given[index]) = (arguments.NamedValues[i], true);
        }
        for (var i = 0; i < parameters.Count; i++)
        {
            var value = given[i] ? passed[i]
                : parameters[i].Default is { } fallback ? fallback.Evaluate(frame)
                : Undefined.WithHint($"parameter '{parameters[i].Name}' was not provided");
            frame.Assign(parameters[i].Name, value);
        }

        if (++context.CallDepth > RenderContext.MaxCallDepth)
            throw new JinjaError($"macro '{Name}' nested more than {RenderContext.MaxCallDepth} calls deep (runaway recursion?)");
        var saved = context.Output;
        context.Output = new StringBuilder();
        try
        {
            Statement.ExecuteAll(definition.Body, frame);
            return context.Output.ToString();
        }
        finally
        {
            context.Output = saved;
            context.CallDepth--;
        }
    }
}
