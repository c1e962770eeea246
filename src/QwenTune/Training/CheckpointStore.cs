using System.Text.Json;
using System.Text.Json.Nodes;
using QwenTune.Checkpoints;
using QwenTune.Distributed;
using QwenTune.IO;
using static TorchSharp.torch;

namespace QwenTune.Training;

/// <summary>What a checkpoint holds besides the optimizer and trainer state: the model, or just an adapter.</summary>
public interface IModelWriter
{
    /// <summary>Writes the model (full weights, or the adapter of a LoRA run) and tokenizer files into a folder.</summary>
    void WriteModel(string directory);

    /// <summary>Restores trainable weights from a checkpoint folder written by <see cref="WriteModel"/>.</summary>
    void ReadModel(string directory);
}

/// <summary>
/// output_dir/checkpoint-N folders, each complete or absent: everything is written into a temporary folder
/// that is renamed into place only when every file is on disk, so a crash or SIGKILL mid-save leaves the
/// earlier checkpoints as they were. save_total_limit prunes the oldest (never the best).
/// In a data-parallel job every rank calls every method (the sharded state is gathered collectively) and rank 0
/// alone writes: a checkpoint of W ranks is the same consolidated folder as one process's, plus each rank's RNG state,
/// so a run can resume on any number of ranks.
/// With <paramref name="saveOnlyModel"/> (HF's save_only_model) a checkpoint holds the model, trainer state and arguments
/// only, and cannot be resumed. With <paramref name="loadBestModelAtEnd"/> the final model is the best checkpoint's.
/// </summary>
public sealed class CheckpointStore(
    ICollectives collectives,
    string outputDir,
    IModelWriter modelWriter,
    IParameterUpdater updater,
    Generator? modelGenerator,
    ILossScaler? scaler,
    int? saveTotalLimit,
    JsonObject trainingArgs,
    bool saveOnlyModel = false,
    bool loadBestModelAtEnd = false) : ICheckpointStore
{
    public const string Prefix = "checkpoint-";
    private const string TemporaryPrefix = ".tmp-checkpoint-";
    private const string OptimizerFile = "optimizer.safetensors";
    private const string RngFile = "rng_state.safetensors";
    private const string SchedulerFile = "scheduler.json";
    private const string TrainerStateFile = "trainer_state.json";
    private const string ArgsFile = "training_args.json";

    /// <summary>Fails early, before any training, if output_dir cannot be created or written.</summary>
    public static void EnsureWritable(string outputDir)
    {
        try
        {
            Directory.CreateDirectory(outputDir);
            var probe = Path.Combine(outputDir, $".write-probe-{Environment.ProcessId}");
            File.WriteAllText(probe, "ok");
            File.Delete(probe);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QwenTuneException($"output_dir '{outputDir}' is not writable: {e.Message}");
        }
    }

    /// <summary>
    /// The newest complete checkpoint in <paramref name="outputDir"/>, or null. Leftover temporary folders are removed
    /// when <paramref name="removeStale"/> (by rank 0 alone in a job).
    /// </summary>
    public static string? Latest(string outputDir, bool removeStale = true)
    {
        if (!Directory.Exists(outputDir))
            return null;
        foreach (var stale in removeStale ? Directory.GetDirectories(outputDir, TemporaryPrefix + "*") : [])
            TryDelete(stale);
        return Checkpoints(outputDir).LastOrDefault(c => File.Exists(Path.Combine(c.Path, TrainerStateFile))).Path;
    }

    private bool Writes => collectives.Rank == 0;

    public StagedCheckpoint Stage(int step, TrainerState state)
    {
        var final = Path.Combine(outputDir, Prefix + step);
        var temporary = Path.Combine(outputDir, $"{TemporaryPrefix}{step}-{Guid.NewGuid():N}");
        // The collective parts first, on every rank: consolidated optimizer state, every rank's RNG, whole parameters.
        var optimizerState = saveOnlyModel ? [] : updater.StateTensors().ToList();
        var rngStates = saveOnlyModel ? [] : RngStates();
        using var whole = updater.GatherParameters();
        if (!Writes)
            return new StagedCheckpoint(step, temporary, final);
        try
        {
            Directory.CreateDirectory(temporary);
            modelWriter.WriteModel(temporary);
            if (!saveOnlyModel)
            {
                WriteOptimizer(temporary, optimizerState);
                SafeTensorsWriter.Write(Path.Combine(temporary, RngFile), rngStates);
                AtomicFile.WriteAllText(Path.Combine(temporary, SchedulerFile), new JsonObject { ["last_step"] = step }.ToJsonString() + "\n");
            }
            AtomicFile.WriteJson(Path.Combine(temporary, ArgsFile), trainingArgs);
            AtomicFile.WriteAllText(Path.Combine(temporary, TrainerStateFile), state.ToJson() + "\n");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or QwenTuneException)
        {
            TryDelete(temporary);
            throw SaveFailed(step, e);
        }
        return new StagedCheckpoint(step, temporary, final);
    }

    public string Commit(StagedCheckpoint staged, TrainerState state)
    {
        if (!Writes)
            return staged.FinalPath;
        try
        {
            if (Directory.Exists(staged.FinalPath))
                Directory.Delete(staged.FinalPath, recursive: true);   // the same step saved again after a resume
            Directory.Move(staged.TemporaryPath, staged.FinalPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            TryDelete(staged.TemporaryPath);
            throw SaveFailed(staged.Step, e);
        }
        Prune(state);
        return staged.FinalPath;
    }

    private QwenTuneException SaveFailed(int step, Exception e) => new(
        $"could not write checkpoint-{step} in '{outputDir}': {e.Message.TrimEnd('.')}. Earlier checkpoints are untouched; free space or fix permissions, then rerun to resume.");

    public void SaveFinal(TrainerState state, TrainSummary summary)
    {
        using var whole = updater.GatherParameters();
        if (!Writes)
            return;
        try
        {
            // HF's _load_best_model: the best checkpoint's weights into the (gathered) model, which is then saved as usual.
            if (loadBestModelAtEnd && state.BestModelCheckpoint is { } best)
                modelWriter.ReadModel(best);
            modelWriter.WriteModel(outputDir);
            AtomicFile.WriteAllText(Path.Combine(outputDir, TrainerStateFile), state.ToJson() + "\n");
            var results = new JsonObject
            {
                ["epoch"] = state.Epoch,
                ["train_loss"] = double.IsFinite(summary.TrainLoss) ? summary.TrainLoss : null,
                ["train_runtime"] = Math.Round(summary.RuntimeSeconds, 4),
                ["train_samples_per_second"] = Math.Round(summary.SamplesPerSecond, 3),
                ["train_steps_per_second"] = summary.RuntimeSeconds > 0 ? Math.Round(summary.Steps / summary.RuntimeSeconds, 3) : 0,
                ["train_tokens_per_second"] = Math.Round(summary.TokensPerSecond, 1),
                ["train_tokens"] = summary.Tokens,
                ["peak_rss_bytes"] = summary.PeakRssBytes,
                ["skipped_steps"] = summary.SkippedSteps,
                ["loss_scale_overflow_steps"] = summary.OverflowSteps,
            };
            AtomicFile.WriteJson(Path.Combine(outputDir, "train_results.json"), results);
            AtomicFile.WriteJson(Path.Combine(outputDir, ArgsFile), trainingArgs);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or QwenTuneException)
        {
            throw new QwenTuneException($"could not write the final model into '{outputDir}': {e.Message}. The checkpoints in it are untouched.");
        }
    }

    /// <summary>Restores model, optimizer, loss scaler and RNG from a checkpoint; returns its trainer state.</summary>
    public TrainerState Restore(string checkpoint)
    {
        var statePath = Path.Combine(checkpoint, TrainerStateFile);
        if (!File.Exists(statePath))
            throw new QwenTuneException($"{checkpoint}: not a checkpoint folder ({TrainerStateFile} missing).");
        if (!File.Exists(Path.Combine(checkpoint, OptimizerFile)))
            throw new QwenTuneException(
                $"{checkpoint} has no {OptimizerFile} (a checkpoint saved with --save_only_model has none), so training cannot resume from it. " +
                "Start afresh with --overwrite_output_dir True, or start from its weights with --model_name_or_path (full) or --lora_weight_path (LoRA).");
        var state = TrainerState.FromFile(statePath);
        modelWriter.ReadModel(checkpoint);
        using (var optimizer = SafeTensorsReader.Open(Path.Combine(checkpoint, OptimizerFile)))
        {
            var names = optimizer.Entries.Select(e => e.Name).ToHashSet();
            var stepCount = long.Parse(optimizer.Metadata.GetValueOrDefault("step_count") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
            updater.LoadState(stepCount, name => names.Contains(name) ? optimizer.Read(name) : null, checkpoint);
            scaler?.Restore(optimizer.Metadata);
        }
        using (var rng = SafeTensorsReader.Open(Path.Combine(checkpoint, RngFile)))
        {
            // This rank's own state when the checkpoint has one; else rank 0's (a run resumed on more ranks than saved it).
            var names = rng.Entries.Select(e => e.Name).ToHashSet();
            string Own(string name) => names.Contains($"{name}.rank{collectives.Rank}") ? $"{name}.rank{collectives.Rank}" : name;
            using (var cpuState = rng.Read(Own("cpu")))
                set_rng_state(cpuState);
            if (modelGenerator is not null && names.Contains("model"))
            {
                using var modelState = rng.Read(Own("model"));
                modelGenerator.set_state(modelState);
            }
        }
        return state;
    }

    private void WriteOptimizer(string directory, IEnumerable<KeyValuePair<string, Tensor>> state)
    {
        var metadata = new Dictionary<string, string> { ["step_count"] = updater.StepCount.ToString(System.Globalization.CultureInfo.InvariantCulture) };
        foreach (var (key, value) in scaler?.State ?? new Dictionary<string, string>())
            metadata[key] = value;
        SafeTensorsWriter.Write(Path.Combine(directory, OptimizerFile), state, metadata);
    }

    /// <summary>
    /// "cpu" and "model" (libtorch's global generator and the model's own, which draws LoRA dropout) as one process saves
    /// them, which are rank 0's in a job; with several ranks also "cpu.rankN" and "model.rankN" for every rank.
    /// </summary>
    private List<KeyValuePair<string, Tensor>> RngStates()
    {
        List<KeyValuePair<string, Tensor>> states = [];
        void Add(string name, Tensor own)
        {
            if (collectives.WorldSize == 1)
            {
                states.Add(new(name, own));
                return;
            }
            using var all = empty(collectives.WorldSize * own.numel(), own.dtype);
            collectives.AllGather(own, all);
            states.Add(new(name, all.narrow(0, 0, own.numel()).clone()));
            for (var r = 0; r < collectives.WorldSize; r++)
                states.Add(new($"{name}.rank{r}", all.narrow(0, r * own.numel(), own.numel()).clone()));
            own.Dispose();
        }
        Add("cpu", get_rng_state());
        if (modelGenerator?.get_state() is { } modelState)
            Add("model", modelState);
        return states;
    }

    private void Prune(TrainerState state)
    {
        if (saveTotalLimit is not { } limit || limit <= 0)
            return;
        var checkpoints = Checkpoints(outputDir);
        var best = state.BestModelCheckpoint is null ? null : Path.GetFullPath(state.BestModelCheckpoint);
        // HF's _rotate_checkpoints: with a limit of 1 and an older best checkpoint, keep the newest too, so the run can resume.
        if (limit == 1 && best is not null && checkpoints.Count > 0 && Path.GetFullPath(checkpoints[^1].Path) != best)
            limit = 2;
        var removable = checkpoints.Where(c => Path.GetFullPath(c.Path) != best).ToList();
        var excess = checkpoints.Count - limit;
        foreach (var (path, _) in removable.Take(Math.Max(0, excess)))
            TryDelete(path);
    }

    private static List<(string Path, int Step)> Checkpoints(string outputDir) =>
        Directory.GetDirectories(outputDir, Prefix + "*")
            .Select(p => (Path: p, Step: int.TryParse(Path.GetFileName(p)[Prefix.Length..], out var n) ? n : -1))
            .Where(c => c.Step >= 0)
            .OrderBy(c => c.Step)
            .ToList();

    private static void TryDelete(string path)
    {
        try
        {
            if (Directory.Exists(path))
                Directory.Delete(path, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
