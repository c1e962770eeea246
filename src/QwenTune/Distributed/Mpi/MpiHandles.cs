namespace QwenTune.Distributed.Mpi;

/// <summary>Open MPI's predefined handles, resolved once from <c>libmpi.so.40</c>.</summary>
internal sealed record MpiHandles(IntPtr CommWorld, IntPtr Float, IntPtr Double, IntPtr Int64, IntPtr Byte, IntPtr Sum, IntPtr Max, IntPtr ErrorsReturn);
