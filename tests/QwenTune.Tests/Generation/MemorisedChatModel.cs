using System.Text.Json.Nodes;
using QwenTune.Checkpoints;
using QwenTune.Models;
using QwenTune.Tests.Training;

namespace QwenTune.Tests.Generation;

/// <summary>
/// The embedded default model (examples/tiny-qwen2.5, seeded as finetune.sh initialises it, float32) fully fine-tuned
/// on one short conversation until it has it by heart: a few seconds of training, shared by the chat and generate tests.
/// </summary>
public sealed class MemorisedChatModel : IDisposable
{
    public const string User = "What is the capital of Freedonia?";

    public const string Assistant = "Fredville, by the river.";

    private readonly TempFolder _folder = new();

    public MemorisedChatModel()
    {
        var example = Path.Combine(Fixtures.RepositoryRoot, "examples", "tiny-qwen2.5");
        var baseModel = _folder.File("base");
        var model = new QwenForCausalLM(QwenConfig.FromFile(Path.Combine(example, "config.json")));
        model.InitializeWeights(42);
        PretrainedModel.Save(model, baseModel, ShardSize.Default, example);
        DataPath = _folder.File("memorise.jsonl");
        System.IO.File.WriteAllText(DataPath, new JsonObject
        {
            ["messages"] = new JsonArray(
                new JsonObject { ["role"] = "user", ["content"] = User },
                new JsonObject { ["role"] = "assistant", ["content"] = Assistant }),
        }.ToJsonString() + "\n");
        ModelDir = _folder.File("tuned");
        Summary = TrainingRuns.Train(
            "--model_name_or_path", baseModel, "--data_path", DataPath, "--output_dir", ModelDir, "--max_steps", "30",
            "--learning_rate", "1e-2", "--lr_scheduler_type", "constant", "--per_device_train_batch_size", "1",
            "--logging_steps", "10", "--save_strategy", "no", "--device", "cpu", "--seed", "1");
    }

    public string ModelDir { get; }

    public string DataPath { get; }

    public QwenTune.Training.TrainSummary Summary { get; }

    public string File(string name) => _folder.File(name);

    public void Dispose() => _folder.Dispose();
}
