namespace QwenTune.Data;

/// <summary>
/// Training examples by index. Eager datasets featurize everything up front; lazy ones on first use
/// (with a bounded cache), so <see cref="Get"/> may return null for a sample that turns out to have no
/// target token after truncation.
/// </summary>
public interface ISftDataset
{
    int Count { get; }

    /// <summary>A length used only to group similar samples into batches (exact for eager datasets).</summary>
    int LengthHint(int index);

    SftExample? Get(int index);

    /// <summary>Samples dropped so far because truncation left them no target token.</summary>
    int DroppedWithoutTargets { get; }
}
