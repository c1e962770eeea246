using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Tests.Checkpoints;

/// <summary>
/// A module whose state dict has exactly the given keys and shapes (nested child modules per dotted segment),
/// to test loading without depending on the model code.
/// </summary>
internal sealed class ParameterTree : nn.Module
{
    private ParameterTree(string name) : base(name) { }

    public static ParameterTree Build(IEnumerable<(string Key, long[] Shape)> parameters, ScalarType dtype = ScalarType.Float32)
    {
        var root = new ParameterTree("root");
        foreach (var (key, shape) in parameters)
        {
            var parts = key.Split('.');
            var node = root;
            foreach (var part in parts[..^1])
                node = node.Child(part);
            node.register_parameter(parts[^1], nn.Parameter(torch.zeros(shape, dtype)));
        }
        return root;
    }

    private ParameterTree Child(string name)
    {
        foreach (var (childName, child) in named_children())
        {
            if (childName == name)
                return (ParameterTree)child;
        }
        var created = new ParameterTree(name);
        register_module(name, created);
        return created;
    }
}
