using static TorchSharp.torch;

namespace QwenTune.Checkpoints;

/// <summary>
/// The weights of a Hugging Face model folder: <c>model.safetensors</c>, or shards listed by
/// <c>model.safetensors.index.json</c>. Headers are validated at <see cref="Open"/>; tensors are read one at a time.
/// </summary>
public sealed class HfCheckpoint : IDisposable
{
    public const string SingleFileName = "model.safetensors";
    public const string IndexFileName = "model.safetensors.index.json";

    private readonly List<SafeTensorsReader> _shards;
    private readonly Dictionary<string, (SafeTensorsReader Shard, SafeTensorsEntry Entry)> _tensors;

    private HfCheckpoint(string folder, List<SafeTensorsReader> shards, Dictionary<string, (SafeTensorsReader, SafeTensorsEntry)> tensors)
    {
        Folder = folder;
        _shards = shards;
        _tensors = tensors;
    }

    public string Folder { get; }

    /// <summary>The safetensors files, in reading order.</summary>
    public IReadOnlyList<string> Files => _shards.Select(s => s.Path).ToList();

    /// <summary>Every tensor, in reading order (shard by shard, by offset).</summary>
    public IReadOnlyList<SafeTensorsEntry> Entries => Ordered().Select(t => t.Entry).ToList();

    /// <summary>Opens a model folder, a <c>.safetensors</c> file or an index file.</summary>
    public static HfCheckpoint Open(string path)
    {
        if (File.Exists(path))
        {
            var full = Path.GetFullPath(path);
            return path.EndsWith(".json", StringComparison.OrdinalIgnoreCase) ? OpenSharded(full) : OpenSingle(full);
        }
        if (!Directory.Exists(path))
            throw new QwenTuneException($"Model path '{path}' does not exist: give a folder holding {SingleFileName} or {IndexFileName}.");
        var folder = Path.GetFullPath(path);
        // transformers also looks for the single file first.
        if (File.Exists(Path.Combine(folder, SingleFileName)))
            return OpenSingle(Path.Combine(folder, SingleFileName));
        if (File.Exists(Path.Combine(folder, IndexFileName)))
            return OpenSharded(Path.Combine(folder, IndexFileName));
        throw NoSafeTensors(folder);
    }

    /// <summary>The entry for <paramref name="name"/>, or null.</summary>
    public SafeTensorsEntry? Find(string name) => _tensors.TryGetValue(name, out var t) ? t.Entry : null;

    /// <summary>Reads one tensor as a new CPU tensor, converted to <paramref name="dtype"/> when given.</summary>
    public Tensor ReadTensor(string name, ScalarType? dtype = null)
    {
        if (!_tensors.TryGetValue(name, out var tensor))
            throw new QwenTuneException($"{Folder}: the checkpoint has no tensor '{name}'.");
        return tensor.Shard.Read(tensor.Entry, dtype);
    }

    /// <summary>
    /// Every tensor, one at a time, in file order, converted to <paramref name="dtype"/> when given. The caller owns
    /// (and disposes) each tensor; the enumeration itself keeps none alive (a conversion briefly adds the file-dtype copy).
    /// </summary>
    public IEnumerable<(string Name, Tensor Tensor)> ReadTensors(ScalarType? dtype = null)
    {
        foreach (var (shard, entry) in Ordered())
            yield return (entry.Name, shard.Read(entry, dtype));
    }

    /// <summary>
    /// Copies the checkpoint into <paramref name="module"/>'s parameters and persistent buffers, in place, tensor by
    /// tensor, converting dtypes. Strict: any missing, unexpected or differently shaped key (beyond what
    /// <paramref name="options"/> allows) fails before anything is copied, with one message listing them all.
    /// </summary>
    public void LoadInto(nn.Module module, StrictLoadOptions? options = null)
    {
        options ??= StrictLoadOptions.Default;
        var stateDict = module.state_dict();
        var diff = StateDictDiff.Compare(
            stateDict.ToDictionary(p => p.Key, p => (IReadOnlyList<long>)p.Value.shape, StringComparer.Ordinal),
            _tensors.ToDictionary(p => p.Key, p => p.Value.Entry.Shape, StringComparer.Ordinal),
            options);
        if (!diff.IsEmpty)
        {
            throw new QwenTuneException(
                $"The checkpoint in {Folder} does not match the model:\n{diff.Describe()}\n" +
                "Check that config.json describes these weights (model_type, sizes, num_hidden_layers, tie_word_embeddings).");
        }
        var ignored = StrictLoadOptions.Matcher(options.Ignored);
        foreach (var (shard, entry) in Ordered())
        {
            if (!ignored(entry.Name) && stateDict.TryGetValue(entry.Name, out var target))
                shard.ReadInto(entry, target);
        }
    }

    /// <summary>
    /// Saves a state dict to <paramref name="folder"/> as <c>model.safetensors</c>, or as shards of at most
    /// <paramref name="maxShardSize"/> bytes with an index; see <see cref="HfCheckpointWriter"/>.
    /// </summary>
    public static IReadOnlyList<string> Save(
        string folder,
        IEnumerable<KeyValuePair<string, Tensor>> stateDict,
        long maxShardSize = ShardSize.Default,
        IReadOnlyDictionary<string, string>? metadata = null) =>
        HfCheckpointWriter.Save(folder, stateDict, maxShardSize, metadata);

    public void Dispose()
    {
        foreach (var shard in _shards)
            shard.Dispose();
    }

    private IEnumerable<(SafeTensorsReader Shard, SafeTensorsEntry Entry)> Ordered() =>
        _shards.SelectMany(shard => shard.Entries
            .Where(e => _tensors.TryGetValue(e.Name, out var t) && ReferenceEquals(t.Shard, shard))
            .Select(e => (shard, e)));

    private static HfCheckpoint OpenSingle(string file)
    {
        var reader = SafeTensorsReader.Open(file);
        var tensors = reader.Entries.ToDictionary(e => e.Name, e => (reader, e), StringComparer.Ordinal);
        return new HfCheckpoint(Path.GetDirectoryName(file)!, [reader], tensors);
    }

    // The index is the authority on which tensor lives where; tensors a shard holds but the index omits are not exposed.
    private static HfCheckpoint OpenSharded(string indexPath)
    {
        var folder = Path.GetDirectoryName(indexPath)!;
        var weightMap = HfCheckpointIndex.ReadWeightMap(indexPath);
        var shards = new List<SafeTensorsReader>();
        try
        {
            var byFile = OpenShards(indexPath, folder, weightMap, shards);
            var tensors = new Dictionary<string, (SafeTensorsReader, SafeTensorsEntry)>(StringComparer.Ordinal);
            foreach (var (name, file) in weightMap)
            {
                var shard = byFile[file];
                if (!shard.Header.ByName.TryGetValue(name, out var entry))
                    throw new QwenTuneException($"{indexPath}: the index puts tensor '{name}' in {file}, but that shard does not contain it. The index and shards come from different saves; re-download the checkpoint.");
                tensors[name] = (shard, entry);
            }
            return new HfCheckpoint(folder, shards, tensors);
        }
        catch
        {
            shards.ForEach(s => s.Dispose());
            throw;
        }
    }

    private static Dictionary<string, SafeTensorsReader> OpenShards(
        string indexPath, string folder, IReadOnlyDictionary<string, string> weightMap, List<SafeTensorsReader> opened)
    {
        var byFile = new Dictionary<string, SafeTensorsReader>(StringComparer.Ordinal);
        foreach (var file in weightMap.Values.Distinct().Order(StringComparer.Ordinal))
        {
            var shardPath = Path.Combine(folder, file);
            if (!File.Exists(shardPath))
            {
                var example = weightMap.First(p => p.Value == file).Key;
                throw new QwenTuneException($"{indexPath}: shard {file} (holding e.g. '{example}') is missing from {folder}. Download the missing shard.");
            }
            var reader = SafeTensorsReader.Open(shardPath);
            opened.Add(reader);
            byFile[file] = reader;
        }
        return byFile;
    }

    private static QwenTuneException NoSafeTensors(string folder)
    {
        var files = Directory.EnumerateFiles(folder).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToList();
        var pickles = files.Where(f => f!.EndsWith(".bin", StringComparison.Ordinal) || f.EndsWith(".pt", StringComparison.Ordinal)
            || f.EndsWith(".pth", StringComparison.Ordinal) || f.EndsWith(".bin.index.json", StringComparison.Ordinal)).ToList();
        if (pickles.Count > 0)
        {
            return new QwenTuneException(
                $"{folder} holds only PyTorch pickle weights ({string.Join(", ", pickles.Take(5))}). QwenTune does not load pickle " +
                "checkpoints: unpickling can run arbitrary code and needs Python. Convert them once to safetensors, e.g.\n" +
                $"  python -c \"from transformers import AutoModelForCausalLM as M; M.from_pretrained('{folder}').save_pretrained('OUT', safe_serialization=True)\"\n" +
                "then use OUT (copy the tokenizer files along if save_pretrained does not).");
        }
        var listing = files.Count == 0 ? "it is empty" : "it holds " + string.Join(", ", files.Take(10)) + (files.Count > 10 ? ", ..." : "");
        return new QwenTuneException($"{folder} has no {SingleFileName} or {IndexFileName} ({listing}). Point at a Hugging Face model folder.");
    }
}
