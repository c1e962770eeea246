using System.Text.Json;
using QwenTune.Checkpoints;
using QwenTune.Training;
using static TorchSharp.torch;

namespace QwenTune.Tests.Models;

/// <summary>
/// The model against tests/fixtures/models/reference-losses.jsonl (the reference models' weights come from the fixture pack), computed in float64 by an implementation
/// written independently of ours from Hugging Face's Qwen2/Qwen3 semantics.
/// </summary>
public sealed class ReferenceLossTests
{
    public static TheoryData<string, string> Cases => new()
    {
        { "tiny-qwen2", "float32" }, { "tiny-qwen3", "float32" }, { "tiny-qwen2", "bfloat16" }, { "tiny-qwen3", "bfloat16" },
    };

    [SkippableTheory]
    [MemberData(nameof(Cases))]
    public void Loss_matches_reference_for_every_labelled_sample(string modelName, string dtypeName)
    {
        var dtype = dtypeName == "float32" ? ScalarType.Float32 : ScalarType.BFloat16;
        var tolerance = dtype == ScalarType.Float32 ? 1e-4 : 2e-2;
        var model = PretrainedModel.Load(Fixtures.Model(modelName), dtype, CPU);
        var worst = 0.0;
        var samples = 0;
        foreach (var line in File.ReadLines(Fixtures.File("models", "reference-losses.jsonl")))
        {
            using var document = JsonDocument.Parse(line);
            var root = document.RootElement;
            var ids = root.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var labels = root.GetProperty("labels").EnumerateArray().Select(e => e.GetInt64()).ToArray();
            var expected = root.GetProperty("models").GetProperty(modelName);
            using var scope = NewDisposeScope();
            using var noGrad = no_grad();
            var hidden = model.Hidden(tensor(ids).unsqueeze(0));
            var (nll, count) = CausalLmLoss.NllSum(hidden, tensor(labels).unsqueeze(0), model.LmHeadWeight);
            Assert.Equal(expected.GetProperty("tokens").GetInt64(), count);
            var loss = nll.item<float>() / count;
            var relative = Math.Abs(loss - expected.GetProperty("loss").GetDouble()) / expected.GetProperty("loss").GetDouble();
            worst = Math.Max(worst, relative);
            samples++;
        }
        Assert.Equal(10, samples);
        Assert.True(worst < tolerance, $"{modelName} {dtypeName}: worst relative loss deviation {worst:E2} >= {tolerance:E0}");
    }

    [SkippableFact]
    public void Top_logits_at_the_last_position_match_reference()
    {
        var model = PretrainedModel.Load(Fixtures.Model("tiny-qwen3"), ScalarType.Float32, CPU);
        var line = File.ReadLines(Fixtures.File("models", "reference-losses.jsonl")).First();
        using var document = JsonDocument.Parse(line);
        var root = document.RootElement;
        var ids = root.GetProperty("input_ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var reference = root.GetProperty("models").GetProperty("tiny-qwen3");
        using var noGrad = no_grad();
        var logits = model.call(tensor(ids).unsqueeze(0))[0, -1];
        var top = reference.GetProperty("last_logits_top5");
        var expectedIds = top.GetProperty("ids").EnumerateArray().Select(e => e.GetInt64()).ToArray();
        var expectedValues = top.GetProperty("values").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        var (values, indices) = logits.topk(5);
        Assert.Equal(expectedIds, indices.data<long>().ToArray());
        for (var i = 0; i < 5; i++)
            Assert.Equal(expectedValues[i], values[i].item<float>(), 4);
    }
}
