using QwenTune.Models;

namespace QwenTune.Tests;

/// <summary>Small randomly initialised configurations for tests that need a model but no checkpoint.</summary>
internal static class TinyModels
{
    public static QwenConfig Qwen2(int vocab = 300) => new()
    {
        ModelType = "qwen2",
        VocabSize = vocab,
        HiddenSize = 32,
        IntermediateSize = 64,
        NumHiddenLayers = 2,
        NumAttentionHeads = 4,
        NumKeyValueHeads = 2,
        RopeTheta = 10000,
        TieWordEmbeddings = true,
    };

    public static QwenConfig Qwen3(int vocab = 300) => Qwen2(vocab) with
    {
        ModelType = "qwen3",
        HeadDimOverride = 16,
        TieWordEmbeddings = false,
        AttentionBiasFlag = false,
    };

    public static QwenForCausalLM Create(QwenConfig config, long seed = 1)
    {
        var model = new QwenForCausalLM(config);
        model.InitializeWeights(seed);
        return model;
    }
}
