using System.Text.RegularExpressions;
using static TorchSharp.torch;

namespace QwenTune.Checkpoints;

/// <summary>
/// Saves a state dict as a Hugging Face checkpoint. Shards are split like huggingface_hub's
/// <c>split_torch_state_dict_into_shards</c>: tensors in the given order fill a shard until the next would push it
/// past the limit; a tensor larger than the limit gets a shard of its own. Every file is written atomically, and
/// files of an earlier save are removed only once the new index (or single file) is in place.
/// </summary>
public static partial class HfCheckpointWriter
{
    public static IReadOnlyList<string> Save(
        string folder,
        IEnumerable<KeyValuePair<string, Tensor>> stateDict,
        long maxShardSize = ShardSize.Default,
        IReadOnlyDictionary<string, string>? metadata = null)
    {
        if (maxShardSize <= 0)
            throw new QwenTuneException($"max_shard_size must be positive, got {maxShardSize}.");
        var tensors = Distinct(stateDict, folder);
        var shards = Split(tensors, maxShardSize);
        var earlier = EarlierFiles(folder);
        var written = shards.Count == 1
            ? [WriteSingle(folder, shards[0], metadata)]
            : WriteSharded(folder, shards, metadata);
        RemoveStale(folder, earlier, written);
        return written;
    }

    /// <summary>Shard file names as transformers writes them: model-00001-of-00003.safetensors.</summary>
    public static string ShardFileName(int index, int count) => $"model-{index:D5}-of-{count:D5}.safetensors";

    internal static List<List<KeyValuePair<string, Tensor>>> Split(IReadOnlyList<KeyValuePair<string, Tensor>> tensors, long maxShardSize)
    {
        var shards = new List<List<KeyValuePair<string, Tensor>>>();
        var current = new List<KeyValuePair<string, Tensor>>();
        long currentSize = 0;
        foreach (var pair in tensors)
        {
            var size = SafeTensorsWriter.ByteCount(pair.Value);
            if (size > maxShardSize)
            {
                shards.Add([pair]);
                continue;
            }
            if (currentSize + size > maxShardSize && current.Count > 0)
            {
                shards.Add(current);
                (current, currentSize) = ([], 0);
            }
            current.Add(pair);
            currentSize += size;
        }
        if (current.Count > 0 || shards.Count == 0)
            shards.Add(current);
        return shards;
    }

    private static List<KeyValuePair<string, Tensor>> Distinct(IEnumerable<KeyValuePair<string, Tensor>> stateDict, string folder)
    {
        var list = stateDict.ToList();
        var duplicate = list.GroupBy(p => p.Key, StringComparer.Ordinal).FirstOrDefault(g => g.Count() > 1);
        if (duplicate is not null)
            throw new QwenTuneException($"Cannot save to {folder}: the state dict names '{duplicate.Key}' twice.");
        return list;
    }

    private static string WriteSingle(string folder, List<KeyValuePair<string, Tensor>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var path = Path.Combine(folder, HfCheckpoint.SingleFileName);
        SafeTensorsWriter.Write(path, tensors, metadata);
        return path;
    }

    private static List<string> WriteSharded(string folder, List<List<KeyValuePair<string, Tensor>>> shards, IReadOnlyDictionary<string, string>? metadata)
    {
        var written = new List<string>();
        var weightMap = new Dictionary<string, string>(StringComparer.Ordinal);
        long totalSize = 0;
        for (var i = 0; i < shards.Count; i++)
        {
            var name = ShardFileName(i + 1, shards.Count);
            written.Add(Path.Combine(folder, name));
            foreach (var entry in SafeTensorsWriter.Write(written[^1], shards[i], metadata))
            {
                weightMap[entry.Name] = name;
                totalSize += entry.ByteCount;
            }
        }
        // Readers prefer model.safetensors over an index (as transformers does): drop an earlier single file before
        // the index appears, so a crash in between leaves no loadable weights rather than silently stale ones.
        Delete(Path.Combine(folder, HfCheckpoint.SingleFileName), folder);
        var index = Path.Combine(folder, HfCheckpoint.IndexFileName);
        HfCheckpointIndex.Write(index, weightMap, totalSize);
        written.Add(index);
        return written;
    }

    // Files of an earlier save that a new save may leave behind: its single file, its index, and its shards.
    private static HashSet<string> EarlierFiles(string folder)
    {
        var files = new HashSet<string>(StringComparer.Ordinal);
        if (!Directory.Exists(folder))
            return files;
        foreach (var path in Directory.EnumerateFiles(folder))
        {
            var name = Path.GetFileName(path);
            if (name is HfCheckpoint.SingleFileName or HfCheckpoint.IndexFileName || ShardPattern().IsMatch(name))
                files.Add(Path.GetFullPath(path));
        }
        return files;
    }

    private static void RemoveStale(string folder, HashSet<string> earlier, IReadOnlyList<string> written)
    {
        earlier.ExceptWith(written.Select(Path.GetFullPath));
        foreach (var path in earlier)
            Delete(path, folder);
    }

    private static void Delete(string path, string folder)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QwenTuneException($"Saving the checkpoint to {folder}: could not remove the stale file {path} ({e.Message}); delete it by hand.", e);
        }
    }

    [GeneratedRegex(@"^model-\d{5}-of-\d{5}\.safetensors$")]
    private static partial Regex ShardPattern();
}
