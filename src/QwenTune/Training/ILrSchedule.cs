namespace QwenTune.Training;

/// <summary>The learning rate of the optimizer step with 0-based index <c>step</c>.</summary>
public interface ILrSchedule
{
    double LearningRate(int step);
}
