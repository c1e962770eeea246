namespace QwenTune.Data;

/// <summary>
/// One training example: token ids and aligned labels (label = the id where the token is a target, -100
/// elsewhere; not shifted), plus the rendered text it came from.
/// </summary>
public sealed record SftExample(int[] InputIds, int[] Labels, string Text, SampleLocation Location)
{
    /// <summary>
    /// For a packed row (--packing), the token counts of the samples it concatenates, in order; null for one sample.
    /// </summary>
    public int[]? SampleLengths { get; init; }

    /// <summary>Targets the loss can see: a label at position 0 has no preceding token to predict it.</summary>
    public int TargetCount
    {
        get
        {
            var count = 0;
            for (var i = 1; i < Labels.Length; i++)
            {
                if (Labels[i] != -100)
                    count++;
            }
            return count;
        }
    }
}
