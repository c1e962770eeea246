using System.Reflection;
using static TorchSharp.torch;
using static TorchSharp.torch.autograd;

namespace QwenTune.Autograd;

/// <summary>
/// Frees the per-output placeholder TorchSharp keeps for a custom autograd function.
/// <para>
/// TorchSharp 0.107's Node keeps torch.empty_like(output) for every output of a custom function until the graph
/// is freed, only to materialise an undefined output gradient as zeros: an extra activation-sized buffer per call
/// (for a 7B MLP, several times the size of the input the layer would otherwise keep). A function whose forward
/// turned materialisation off never reads them, so they can go. If a TorchSharp upgrade renames these private
/// fields, nothing breaks; the memory is just kept (and the tests that read <see cref="Release"/>'s result fail).
/// </para>
/// </summary>
internal static class OutputPlaceholders
{
    private static readonly FieldInfo? NodeField =
        typeof(AutogradContext).GetField("_node", BindingFlags.Instance | BindingFlags.NonPublic);

    /// <summary>Frees the placeholders of the node behind <paramref name="context"/>; whether it could.</summary>
    public static bool Release(AutogradContext context)
    {
        var node = NodeField?.GetValue(context);
        var cacheField = node?.GetType().GetField("_outputCache", BindingFlags.Instance | BindingFlags.NonPublic);
        if (cacheField?.GetValue(node) is not List<Tensor> placeholders)
            return false;
        for (var i = 0; i < placeholders.Count; i++)
        {
            placeholders[i]?.Dispose();
            placeholders[i] = null!;
        }
        return true;
    }
}
