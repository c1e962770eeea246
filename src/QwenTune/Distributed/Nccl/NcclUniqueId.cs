using System.Runtime.CompilerServices;

namespace QwenTune.Distributed.Nccl;

/// <summary>NCCL's <c>ncclUniqueId</c> (128 opaque bytes, NCCL_UNIQUE_ID_BYTES), passed by value to ncclCommInitRank.</summary>
[InlineArray(128)]
internal struct NcclUniqueId
{
    private byte _first;
}
