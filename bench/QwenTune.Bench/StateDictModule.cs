using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Bench;

/// <summary>A module whose state dict has exactly the given keys and shapes (one child module per dotted segment).</summary>
internal sealed class StateDictModule : nn.Module
{
    private StateDictModule(string name) : base(name) { }

    public static StateDictModule Build(IEnumerable<(string Key, long[] Shape)> parameters, ScalarType dtype)
    {
        var root = new StateDictModule("root");
        foreach (var (key, shape) in parameters)
        {
            var parts = key.Split('.');
            var node = root;
            foreach (var part in parts[..^1])
                node = node.Child(part);
            // empty, not zeros: pages become resident only as the load writes them, so RSS shows what loading costs.
            node.register_parameter(parts[^1], nn.Parameter(torch.empty(shape, dtype), requires_grad: false));
        }
        return root;
    }

    private StateDictModule Child(string name)
    {
        foreach (var (childName, child) in named_children())
        {
            if (childName == name)
                return (StateDictModule)child;
        }
        var created = new StateDictModule(name);
        register_module(name, created);
        return created;
    }
}
