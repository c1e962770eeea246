using System.Globalization;
using QwenTune.Configuration;
using QwenTune.TestHost;
using QwenTune.Training;

// usage: QwenTune.TestHost train-pausing-save STEP SECONDS <qwentune train flags...>
if (args is not ["train-pausing-save", var step, var seconds, .. var trainArgs])
{
    Console.Error.WriteLine("usage: QwenTune.TestHost train-pausing-save STEP SECONDS <train flags...>");
    return 2;
}
using var run = TrainingSession.Prepare(TrainingRequest.Parse(trainArgs), [], Console.Error);
var pausing = new PausingCheckpointStore(run.Parts.Checkpoints, int.Parse(step, CultureInfo.InvariantCulture),
    TimeSpan.FromSeconds(double.Parse(seconds, CultureInfo.InvariantCulture)));
(run with { Parts = run.Parts with { Checkpoints = pausing } }).Train(Console.Error);
return 0;
