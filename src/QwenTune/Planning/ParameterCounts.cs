using QwenTune.Models;

namespace QwenTune.Planning;

/// <summary>
/// The parameters <see cref="QwenForCausalLM"/> builds for a config, counted from the config alone: embed_tokens,
/// per layer the seven projections (q/k/v biases in Qwen2, o_proj's only in Qwen3 with attention_bias), two norms (and
/// Qwen3's q_norm/k_norm), the final norm, and lm_head unless the embeddings are tied.
/// </summary>
public sealed class ParameterCounts
{
    public ParameterCounts(QwenConfig config)
    {
        Config = config;
        long hidden = config.HiddenSize, query = (long)config.NumAttentionHeads * config.HeadDim, keyValue = (long)config.KeyValueHeads * config.HeadDim;
        long intermediate = config.IntermediateSize;
        Projections =
        [
            new("q_proj", hidden, query, config.QkvBias),
            new("k_proj", hidden, keyValue, config.QkvBias),
            new("v_proj", hidden, keyValue, config.QkvBias),
            new("o_proj", query, hidden, config.OutputBias),
            new("gate_proj", hidden, intermediate, false),
            new("up_proj", hidden, intermediate, false),
            new("down_proj", intermediate, hidden, false),
        ];
        LayerNorms = 2 * hidden + (config.IsQwen3 ? 2L * config.HeadDim : 0);
    }

    public QwenConfig Config { get; }

    public IReadOnlyList<ProjectionShape> Projections { get; }

    public long Embedding => (long)Config.VocabSize * Config.HiddenSize;

    /// <summary>0 when the head reuses embed_tokens.weight.</summary>
    public long LmHead => Config.TieWordEmbeddings ? 0 : Embedding;

    public long FinalNorm => Config.HiddenSize;

    /// <summary>Norm weights of one decoder layer.</summary>
    public long LayerNorms { get; }

    public long LayerProjectionWeights => Projections.Sum(p => p.WeightCount);

    public long LayerBiases => Projections.Sum(p => p.BiasCount);

    public long PerLayer => LayerProjectionWeights + LayerBiases + LayerNorms;

    public long Layers => Config.NumHiddenLayers * PerLayer;

    public long OutsideLayers => Embedding + LmHead + FinalNorm;

    public long Total => OutsideLayers + Layers;

    /// <summary>LoRA parameters of one layer: r x (in + out) for each adapted projection (lora_A [r, in], lora_B [out, r]).</summary>
    public long LoraPerLayer(IEnumerable<string> targets, int rank) =>
        Projections.Where(p => targets.Contains(p.Name)).Sum(p => rank * (p.In + p.Out));

    /// <summary>Biases that train in a LoRA run per layer: all of them with --lora_bias all, those of adapted layers with lora_only.</summary>
    public long TrainableBiasesPerLayer(IEnumerable<string> targets, string loraBias) => loraBias switch
    {
        "all" => LayerBiases,
        "lora_only" => Projections.Where(p => targets.Contains(p.Name)).Sum(p => p.BiasCount),
        _ => 0,
    };

    /// <summary>Bytes of one projection weight stored as double-quantised NF4 (<see cref="Quantization.Nf4Tensor.StorageBytes"/>).</summary>
    public static long Nf4Bytes(long elements)
    {
        const long blockSize = Quantization.Nf4.DefaultBlockSize, absmaxBlockSize = Quantization.Nf4.DefaultAbsmaxBlockSize;
        var blocks = (elements + blockSize - 1) / blockSize;
        var groups = (blocks + absmaxBlockSize - 1) / absmaxBlockSize;
        // packed 4-bit codes, one 8-bit absmax code per block, one float32 scale per group, one float32 offset
        return blocks * blockSize / 2 + blocks + 4 * groups + 4;
    }
}
