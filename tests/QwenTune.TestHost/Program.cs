using System.Globalization;
using QwenTune;
using QwenTune.Configuration;
using QwenTune.TestHost;
using QwenTune.Training;

// usage: QwenTune.TestHost train-pausing-save STEP SECONDS <qwentune train flags...>
//        QwenTune.TestHost train-pausing-step STEP SECONDS <qwentune train flags...>
//        QwenTune.TestHost train-nan-steps FIRST COUNT <qwentune train flags...>
// Both stop on SIGTERM / SIGINT with a checkpoint as `qwentune train` does, and exit with its codes.
if (args is not [var mode and ("train-pausing-save" or "train-pausing-step" or "train-nan-steps"), var first, var second, .. var trainArgs])
{
    Console.Error.WriteLine("usage: QwenTune.TestHost train-pausing-save STEP SECONDS | train-pausing-step STEP SECONDS | train-nan-steps FIRST COUNT <train flags...>");
    return 2;
}
var number = int.Parse(first, CultureInfo.InvariantCulture);
try
{
    using var run = TrainingSession.Prepare(TrainingRequest.Parse(trainArgs), [], Console.Error, handleSignals: true);
    var seconds = TimeSpan.FromSeconds(double.Parse(second, CultureInfo.InvariantCulture));
    var parts = mode switch
    {
        "train-pausing-save" => run.Parts with { Checkpoints = new PausingCheckpointStore(run.Parts.Checkpoints, number, seconds) },
        "train-pausing-step" => run.Parts with { Steps = new PausingStepRunner(run.Parts.Steps, number, seconds) },
        _ => run.Parts with
        {
            Steps = new NanInjectingStepRunner(run.Parts.Steps, ((AdamWUpdater)run.Updater).Parameters[0].Parameter, number,
                int.Parse(second, CultureInfo.InvariantCulture)),
        },
    };
    return (run with { Parts = parts }).Train(Console.Error).ExitCode;
}
catch (QwenTuneException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
