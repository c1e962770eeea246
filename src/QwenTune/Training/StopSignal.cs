using System.Runtime.InteropServices;
using QwenTune.Distributed;

namespace QwenTune.Training;

/// <summary>
/// SIGTERM (Slurm's preemption, `kill`) and SIGINT (Ctrl-C) during training: the first one asks the trainer to finish the
/// current optimizer step (and any evaluation or save under way), write a checkpoint and stop; a second one ends the
/// process at once. Every checkpoint is staged in a temporary folder and renamed into place, so ending mid-save loses
/// only that save, never an earlier checkpoint. Exit codes follow the shell's 128 + signal number: 143 and 130.
/// </summary>
public sealed class StopSignal : IDisposable
{
    private readonly PosixSignalRegistration[] _registrations;
    private readonly TextWriter _log;
    private readonly ICollectives? _collectives;
    private int _received;   // 0, or the first signal's number (15 or 2)

    private StopSignal(TextWriter log, ICollectives? collectives, bool listen)
    {
        _log = log;
        _collectives = collectives;
        _registrations = listen
            ? [PosixSignalRegistration.Create(PosixSignal.SIGTERM, Handle), PosixSignalRegistration.Create(PosixSignal.SIGINT, Handle)]
            : [];
    }

    /// <summary>Handles SIGTERM and SIGINT until disposed; the ranks of <paramref name="collectives"/> stop together.</summary>
    public static StopSignal Listen(TextWriter log, ICollectives collectives) => new(log, collectives, listen: true);

    /// <summary>One that no signal reaches (in-process runs: tests, benchmarks).</summary>
    public static StopSignal None { get; } = new(TextWriter.Null, null, listen: false);

    /// <summary>The first signal's number (15 for SIGTERM, 2 for SIGINT), or 0.</summary>
    public int Received => Volatile.Read(ref _received);

    /// <summary>
    /// The signal every rank acts on after a step: the largest any rank received (a scheduler may signal the ranks a
    /// moment apart, or only some of them), so all ranks stop after the same step and save one consistent checkpoint.
    /// Every rank calls this after every step; one process needs no collective.
    /// </summary>
    public int Agreed() => _collectives is { WorldSize: > 1 } c ? (int)c.AllReduceMax(Received) : Received;

    public static string NameOf(int signal) => signal switch { 15 => "SIGTERM", 2 => "SIGINT", _ => $"signal {signal}" };

    private void Handle(PosixSignalContext context)
    {
        var number = context.Signal == PosixSignal.SIGTERM ? 15 : 2;
        context.Cancel = true;   // the runtime's own handling would end the process without a checkpoint
        if (Interlocked.CompareExchange(ref _received, number, 0) == 0)
        {
            _log.WriteLine($"\nReceived {NameOf(number)}: finishing the current step, then saving a checkpoint and stopping " +
                           $"(send it again to stop at once without saving).");
            return;
        }
        _log.WriteLine($"\nReceived {NameOf(number)} again: stopping now. Checkpoints already in output_dir are complete; " +
                       "a save under way is discarded.");
        _log.Flush();
        Environment.Exit(128 + number);
    }

    public void Dispose()
    {
        foreach (var registration in _registrations)
            registration.Dispose();
    }
}
