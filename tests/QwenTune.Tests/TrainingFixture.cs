using System.Text.Json.Nodes;
using QwenTune.Checkpoints;
using QwenTune.Models;

namespace QwenTune.Tests;

/// <summary>
/// A tiny Qwen2 model folder (real Qwen2.5 tokenizer and vocabulary, hidden 16) and a small ChatML file in a
/// temporary folder: enough for end-to-end training runs that take about a second.
/// </summary>
internal sealed class TrainingFixture : IDisposable
{
    private readonly TempFolder _folder = new();

    /// <param name="initializerRange">Weight init std. A random model with the default 0.02 has embeddings so small that
    /// its logits barely vary; adapters on a frozen base need larger ones (0.5) to have anything to steer.</param>
    public TrainingFixture(int samples = 12, string dtype = "float32", double initializerRange = 0.02)
    {
        ModelDir = Path.Combine(_folder.Path, "model");
        var config = new QwenConfig
        {
            ModelType = "qwen2", VocabSize = 151936, HiddenSize = 16, IntermediateSize = 32, NumHiddenLayers = 2,
            NumAttentionHeads = 2, NumKeyValueHeads = 1, TieWordEmbeddings = true, RopeTheta = 10000,
            BosTokenId = 151643, EosTokenId = JsonValue.Create(151645), TorchDtype = dtype, InitializerRange = initializerRange,
        };
        var model = new QwenForCausalLM(config);
        model.InitializeWeights(3);
        PretrainedModel.Save(model, ModelDir, ShardSize.Default, Fixtures.File("tokenizers", "qwen2.5"));
        DataPath = Path.Combine(_folder.Path, "train.jsonl");
        File.WriteAllLines(DataPath, Enumerable.Range(0, samples).Select(Conversation));
    }

    public string ModelDir { get; }

    public string DataPath { get; }

    public string Root => _folder.Path;

    public string Output(string name) => Path.Combine(_folder.Path, name);

    private static string Conversation(int i)
    {
        var messages = new JsonArray(
            new JsonObject { ["role"] = "user", ["content"] = $"What is {i} plus {i + 1}?" },
            new JsonObject { ["role"] = "assistant", ["content"] = $"{i} plus {i + 1} is {2 * i + 1}." + new string('!', i % 4) });
        if (i % 3 == 0)
        {
            messages.Add(new JsonObject { ["role"] = "user", ["content"] = "And doubled?" });
            messages.Add(new JsonObject { ["role"] = "assistant", ["content"] = $"Doubled, it is {4 * i + 2}." });
        }
        return new JsonObject { ["messages"] = messages, ["type"] = "chat" }.ToJsonString();
    }

    public void Dispose() => _folder.Dispose();
}
