using QwenTune.Data;
using QwenTune.Text;
using QwenTune.Tests.Text;

namespace QwenTune.Tests.Data;

public sealed class PackedSftDatasetTests
{
    private static SftExample Example(int[] ids, int promptLength) =>
        new(ids, ids.Select((id, t) => t < promptLength ? -100 : id).ToArray(), "", new SampleLocation("test.jsonl", 1));

    [Fact]
    public void A_row_concatenates_its_samples_and_unlabels_each_first_token()
    {
        var a = Example([11, 12, 13, 14, 15, 16], promptLength: 2);
        var b = Example([21, 22, 23, 24, 25], promptLength: 0);     // labelled from its first token on
        var packed = new PackedSftDataset(new EagerSftDataset([a, b]), capacity: 16);
        Assert.Equal(1, packed.Count);
        var row = packed.Get(0)!;
        Assert.Equal([11, 12, 13, 14, 15, 16, 21, 22, 23, 24, 25], row.InputIds);
        Assert.Equal([-100, -100, 13, 14, 15, 16, -100, 22, 23, 24, 25], row.Labels);
        Assert.Equal([6, 5], row.SampleLengths!);
        // Alone, b's first label had no token before it to predict it; packed, the last token of a must not predict it.
        Assert.Equal(a.TargetCount + b.TargetCount, row.TargetCount);
        Assert.Equal(11, packed.LengthHint(0));
    }

    [Fact]
    public void Collated_positions_restart_at_each_sample_and_at_the_padding()
    {
        var rows = new PackedSftDataset(new EagerSftDataset(
            [Example([1, 2, 3], 0), Example([4, 5, 6, 7], 0), Example([8, 9, 10, 11, 12, 13, 14, 15, 16], 0)]), capacity: 9);
        using var batch = new Collator(padTokenId: 0).Collate([rows.Get(0)!, rows.Get(1)!]);
        Assert.Equal([9, 7], [rows.LengthHint(0), rows.LengthHint(1)]);
        Assert.Equal(
            [0, 1, 2, 3, 4, 5, 6, 7, 8,
             0, 1, 2, 3, 0, 1, 2, 0, 1],       // the 4-token sample, the 3-token one, then two padding positions
            batch.PositionIds!.data<long>().ToArray());
        Assert.Equal(rows.Get(0)!.TargetCount + rows.Get(1)!.TargetCount, batch.TargetCount);
        Assert.Equal(16, batch.TokenCount);
        Assert.Equal((2, 3), (batch.Size, batch.SampleCount));
    }

    [Fact]
    public void Unpacked_batches_carry_no_position_ids()
    {
        using var batch = new Collator(padTokenId: 0).Collate([Example([1, 2, 3], 0), Example([4, 5], 0)]);
        Assert.Null(batch.PositionIds);
    }

    [Fact]
    public void Lazy_and_eager_datasets_pack_into_the_same_rows()
    {
        using var fixture = new TrainingFixture(samples: 12);
        var tokenizer = LoadedTokenizers.Get("qwen2.5");
        var featurizer = new SftFeaturizer(tokenizer, ChatTemplate.For(tokenizer, "qwen2.5"), maxLength: 128, trainOnPrompt: false);
        var samples = ChatDataReader.Read(fixture.DataPath).Samples;
        var eager = new PackedSftDataset(new EagerSftDataset(samples, featurizer), capacity: 128);
        // A cache of two forces the lazy dataset to tokenize samples again when rows are read.
        var lazy = new PackedSftDataset(new LazySftDataset(samples, featurizer, cacheCapacity: 2), capacity: 128);
        Assert.Equal(12, lazy.SampleCount);
        Assert.InRange(lazy.Count, 2, 11);
        Assert.Equal(eager.Count, lazy.Count);
        for (var i = 0; i < eager.Count; i++)
        {
            Assert.Equal(eager.Get(i)!.InputIds, lazy.Get(i)!.InputIds);
            Assert.Equal(eager.Get(i)!.Labels, lazy.Get(i)!.Labels);
            Assert.InRange(lazy.LengthHint(i), 1, 128);
        }
    }
}
