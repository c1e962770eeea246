namespace QwenTune.Training;

/// <summary>Removes what an earlier run of the other kind (full or LoRA) left in an output folder that is being rewritten.</summary>
internal static class StaleFiles
{
    public static void Remove(string directory, params IEnumerable<string> names)
    {
        foreach (var name in names)
        {
            var path = Path.Combine(directory, name);
            if (File.Exists(path))
                File.Delete(path);
        }
    }

    /// <summary>model-00001-of-00003.safetensors and its siblings.</summary>
    public static IEnumerable<string> Shards(string directory) =>
        Directory.Exists(directory) ? Directory.GetFiles(directory, "model-*-of-*.safetensors").Select(f => Path.GetFileName(f)) : [];
}
