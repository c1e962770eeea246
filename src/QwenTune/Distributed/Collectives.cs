using QwenTune.Distributed.Mpi;
using QwenTune.Distributed.Nccl;
using TorchSharp;
using static TorchSharp.torch;

namespace QwenTune.Distributed;

/// <summary>Chooses the collectives for a job: none for one process, NCCL for CUDA tensors when it is installed, else MPI.</summary>
public static class Collectives
{
    /// <summary>
    /// Builds the collectives for <paramref name="environment"/> and tensors on <paramref name="device"/>, and has
    /// rank 0 write one line naming the path taken to <paramref name="log"/>.
    /// </summary>
    public static ICollectives Create(DistributedEnvironment environment, Device device, TextWriter log)
    {
        if (environment.WorldSize == 1)
            return new SingleProcess();
        var mpi = new MpiCollectives();
        try
        {
            if (mpi.WorldSize != environment.WorldSize || mpi.Rank != environment.Rank)
                throw new QwenTuneException(
                    $"{environment.Launcher} says rank {environment.Rank} of {environment.WorldSize}, but MPI says rank {mpi.Rank} of {mpi.WorldSize}. " +
                    "Start every rank with one mpirun (or srun with Open MPI's PMI support).");
            var collectives = device.type == DeviceType.CUDA ? ForCuda(mpi, device, environment) : mpi;
            if (collectives.Rank == 0)
                log.WriteLine($"collectives: {collectives.Description}");
            return collectives;
        }
        catch
        {
            mpi.Dispose();
            throw;
        }
    }

    private static ICollectives ForCuda(MpiCollectives mpi, Device device, DistributedEnvironment environment)
    {
        var nccl = NcclLibrary.TryLoad();
        if (nccl is null)
            return new HostStagedCollectives(mpi);
        return new NcclCollectives(nccl, mpi, device.index >= 0 ? device.index : environment.LocalRank);
    }
}
