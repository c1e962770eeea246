using QwenTune.Checkpoints;
using QwenTune.Hub;
using QwenTune.Text;

namespace QwenTune.Runtime;

/// <summary>
/// What --model_name_or_path names, as a local folder: the folder itself, or a Hub id (Qwen/Qwen2.5-0.5B-Instruct)
/// resolved through the Hugging Face cache, fetching what is missing, as transformers' from_pretrained does.
/// </summary>
public static class ModelLocation
{
    /// <summary>The files QwenTune reads from a model repository; the rest (*.bin, *.gguf, README.md...) stays on the Hub.</summary>
    public static bool IsModelFile(string name) =>
        !name.Contains('/') && (name is "config.json" or "generation_config.json" or HfCheckpoint.IndexFileName
                                || name.EndsWith(".safetensors", StringComparison.Ordinal) || IsTokenizerFile(name));

    public static bool IsTokenizerFile(string name) => QwenTokenizer.FilesToCopy.Contains(name);

    /// <param name="tokenizerOnly">Fetch the tokenizer files alone (render, tokenize), not the weights.</param>
    /// <param name="settings">The Hub and cache; by default from the environment (HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE...).</param>
    public static string Resolve(string? nameOrPath, string? revision, string? cacheDirectory, TextWriter log,
        bool tokenizerOnly = false, IProgress<HubTransfer>? progress = null, HubSettings? settings = null, HttpMessageHandler? handler = null)
    {
        if (string.IsNullOrEmpty(nameOrPath))
            throw new QwenTuneException("--model_name_or_path is required: a local model folder or a Hub id such as Qwen/Qwen2.5-0.5B-Instruct.");
        if (Directory.Exists(nameOrPath))
            return nameOrPath;
        if (File.Exists(nameOrPath))
            throw new QwenTuneException($"--model_name_or_path '{nameOrPath}' is a file: give the model's folder (the one holding config.json).");
        if (!HubRepoId.TryParse(nameOrPath, out var repo))
            throw new QwenTuneException($"--model_name_or_path '{nameOrPath}': no such folder, and not a Hub id (org/name) either.");
        settings ??= HubSettings.FromEnvironment(cacheDirectory);
        IReadOnlyList<string> required = tokenizerOnly ? [TokenizerJson.FileName] : ["config.json", TokenizerJson.FileName];
        return HubSnapshots.Resolve(repo, revision ?? "main", settings, tokenizerOnly ? IsTokenizerFile : IsModelFile,
            required, log, progress ?? new HubTransferLog(log), handler);
    }
}
