#!/usr/bin/env bash
# Qwen's examples/sft/finetune.sh interface, on QwenTune:
#   bash finetune.sh -m <model dir> -d <data.jsonl> [--deepspeed <ds_config.json>] [--use_lora True] [--q_lora True] [--any_hf_flag value ...]
# With no -m, a small Qwen2.5-architecture model is initialised locally (examples/tiny-qwen2.5, seeded) and trained
# on examples/data/train.jsonl: the embedded default that runs on any machine, no download needed.
# Flags after the known ones go to `qwentune train` and override the defaults below (Qwen's values).
# One process runs `qwentune train` directly; more run as Open MPI ranks (mpirun), each the same `qwentune train`
# command line: the ranks find their rank and world size in Open MPI's environment variables.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

die() { echo "finetune.sh: $*" >&2; exit 2; }

# A CUDA build (-p:QwenTuneTorchBackend=cuda) runs one rank per visible GPU, as Qwen's script does; the CPU build's
# ranks would all share the CPU, so it defaults to one process.
visible_cuda_devices() {
    local out="$root/src/QwenTune.Cli/bin/Release/net10.0" count
    if [[ -z "$(find "$out" -name 'libtorch_cuda.so' -print -quit 2>/dev/null)" ]] || ! command -v nvidia-smi >/dev/null; then
        echo 1; return
    fi
    count=$(nvidia-smi -L 2>/dev/null | grep -c '^GPU ' || true)
    if [[ -n "${CUDA_VISIBLE_DEVICES+set}" ]]; then
        local ids=()
        IFS=, read -ra ids <<<"$CUDA_VISIBLE_DEVICES"
        (( ${#ids[@]} < count )) && count=${#ids[@]}
    fi
    echo $(( count > 0 ? count : 1 ))
}

# Processes per node and nodes, Qwen's names. Inside a Slurm allocation the node count and this node's index
# default to Slurm's.
GPUS_PER_NODE=${GPUS_PER_NODE:-$(visible_cuda_devices)}
NNODES=${NNODES:-${SLURM_JOB_NUM_NODES:-1}}
NODE_RANK=${NODE_RANK:-${SLURM_NODEID:-0}}
# Open MPI needs no rendezvous address: MASTER_ADDR (NNODES > 1 only) picks the network Open MPI uses between
# nodes; MASTER_PORT is accepted and ignored (Open MPI chooses its own ports).
MASTER_ADDR=${MASTER_ADDR:-localhost}
MASTER_PORT=${MASTER_PORT:-6001}
HOSTFILE=${HOSTFILE:-}
DRY_RUN=${FINETUNE_DRY_RUN:-0}

MODEL=""
DATA=""
DS_CONFIG_PATH=""
USE_LORA=False
Q_LORA=False
EXTRA=()

usage() {
    cat <<'USAGE'
Usage: bash finetune.sh [-m MODEL_PATH] [-d DATA_PATH] [--deepspeed DS_CONFIG_PATH] [--use_lora USE_LORA] [--q_lora Q_LORA] [HF flags...]

  -m, --model       a local Hugging Face model folder or a Hub id such as Qwen/Qwen2.5-0.5B-Instruct (fetched into the
                    Hugging Face cache; HF_ENDPOINT, HF_TOKEN, HF_HUB_OFFLINE apply) (default: a small model
                    initialised from examples/tiny-qwen2.5)
  -d, --data        ChatML JSON Lines data (default: examples/data/train.jsonl)
  --deepspeed       a DeepSpeed JSON config (configs/ds_config_zero2.json, configs/ds_config_zero3.json)
  --use_lora        True to train LoRA adapters
  --q_lora          True (with --use_lora True) for Q-LoRA on a 4-bit NF4 base
  -h, --help        this help; `./qwentune train --help` lists every flag
Environment (as in Qwen's script, launched with Open MPI's mpirun when more than one process):
  GPUS_PER_NODE     processes per node (default: the visible GPUs on a CUDA build, else 1)
  NNODES, NODE_RANK nodes, and this node's index (default 1 and 0, or Slurm's); node 0 launches every rank
  HOSTFILE          an Open MPI hostfile naming the nodes (NNODES > 1; inside a Slurm allocation not needed)
  MASTER_ADDR       with NNODES > 1, Open MPI's traffic uses the network that reaches it; MASTER_PORT is ignored
  FINETUNE_DRY_RUN  1: print the command that would run, one shell-quoted line, and exit
USAGE
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        -m | --model ) MODEL="${2:?-m needs a model folder or Hub id}"; shift 2 ;;
        -d | --data ) DATA="${2:?-d needs a data file}"; shift 2 ;;
        --deepspeed ) DS_CONFIG_PATH="${2:?--deepspeed needs a config file}"; shift 2 ;;
        --deepspeed=* ) DS_CONFIG_PATH="${1#*=}"; shift ;;
        --use_lora ) USE_LORA="${2:?--use_lora needs True or False}"; shift 2 ;;
        --q_lora ) Q_LORA="${2:?--q_lora needs True or False}"; shift 2 ;;
        -h | --help ) usage; exit 0 ;;
        --* ) EXTRA+=("$1"); shift
              while [[ $# -gt 0 && "$1" != --* && "$1" != -m && "$1" != -d && "$1" != -h ]]; do EXTRA+=("$1"); shift; done ;;
        * ) echo "finetune.sh: unknown argument '$1' (see -h)" >&2; exit 1 ;;
    esac
done

for name in GPUS_PER_NODE NNODES NODE_RANK; do
    [[ "${!name}" =~ ^[0-9]+$ ]] || die "$name=\"${!name}\" is not a whole number"
    printf -v "$name" '%d' "$((10#${!name}))"   # 08 is eight, not a bad octal number
done
(( GPUS_PER_NODE >= 1 )) || die "GPUS_PER_NODE=$GPUS_PER_NODE: at least one process per node is needed"
(( NNODES >= 1 )) || die "NNODES=$NNODES: at least one node is needed"
(( NODE_RANK < NNODES )) || die "NODE_RANK=$NODE_RANK but NNODES=$NNODES: node ranks run from 0 to $((NNODES - 1))"
if (( NNODES > 1 && NODE_RANK != 0 )); then
    echo "finetune.sh: NODE_RANK=$NODE_RANK: node 0 starts the ranks of every node through mpirun; nothing to do here." >&2
    exit 0
fi

WORLD_SIZE=$((GPUS_PER_NODE * NNODES))
if (( WORLD_SIZE > 1 )); then
    command -v mpirun >/dev/null || die "GPUS_PER_NODE=$GPUS_PER_NODE x NNODES=$NNODES needs Open MPI's mpirun, which is not on PATH.
             Install it (Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev) on every node, or set GPUS_PER_NODE=1 NNODES=1."
    if (( NNODES > 1 )); then
        if [[ -n "$HOSTFILE" ]]; then
            [[ -f "$HOSTFILE" ]] || die "HOSTFILE=$HOSTFILE is not a file"
        elif [[ -z "${SLURM_JOB_NODELIST:-}" ]]; then
            die "NNODES=$NNODES: mpirun needs to know the nodes. Set HOSTFILE to an Open MPI hostfile (one line per node:
             'node1 slots=$GPUS_PER_NODE'), or run inside a Slurm allocation (salloc/sbatch)."
        fi
    fi
fi

# Ranks on other nodes start in the same working directory (-wdir below), and the paths given here become absolute,
# so they name the same files there: the repository and data must sit at the same path on every node.
absolute() { if [[ -z "$1" || "$1" == /* ]]; then printf '%s' "$1"; else printf '%s' "$PWD/$1"; fi; }
# A Hub id (org/name) that names no local path stays as it is: qwentune finds or fetches it in the Hugging Face cache.
if [[ -e "$MODEL" || ! "$MODEL" =~ ^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$ ]]; then
    MODEL=$(absolute "$MODEL")
fi
DATA=$(absolute "$DATA")
DS_CONFIG_PATH=$(absolute "$DS_CONFIG_PATH")

if [[ -z "$MODEL" ]]; then
    MODEL="$root/.cache/tiny-qwen2.5"
    if [[ ! -f "$MODEL/model.safetensors" && "$DRY_RUN" != 1 ]]; then
        echo "finetune.sh: no -m given; initialising the embedded default model in $MODEL" >&2
        "$root/qwentune" init --config "$root/examples/tiny-qwen2.5/config.json" --tokenizer "$root/examples/tiny-qwen2.5" \
            --output_dir "$MODEL" --seed 42
    fi
fi
DATA="${DATA:-$root/examples/data/train.jsonl}"

# Qwen's defaults; a flag given by the caller replaces the default of the same name.
DEFAULTS=(
    --bf16 True
    --output_dir output_qwen
    --num_train_epochs 5
    --per_device_train_batch_size 2
    --per_device_eval_batch_size 1
    --gradient_accumulation_steps 8
    --eval_strategy no
    --save_strategy steps
    --save_steps 10
    --save_total_limit 10
    --learning_rate 3e-4
    --weight_decay 0.01
    --adam_beta2 0.95
    --warmup_ratio 0.01
    --lr_scheduler_type cosine
    --logging_steps 1
    --report_to none
    --model_max_length 512
    --lazy_preprocess True
    --gradient_checkpointing True
)
given=" "
for arg in "${EXTRA[@]+"${EXTRA[@]}"}"; do
    case "$arg" in --*) name="${arg%%=*}"; name="${name#--}"; given+="${name//-/_} " ;; esac
done
# The precision flags are one choice: a user's --fp16 or --bf16 replaces the script's --bf16 True default.
[[ "$given" == *" fp16 "* ]] && given+="bf16 "
ARGS=()
i=0
while (( i < ${#DEFAULTS[@]} )); do
    name="${DEFAULTS[i]#--}"
    alias="$name"; [[ "$name" == eval_strategy ]] && alias=evaluation_strategy
    if [[ "$given" != *" $name "* && "$given" != *" $alias "* ]]; then
        ARGS+=("${DEFAULTS[i]}" "${DEFAULTS[i+1]}")
    fi
    i=$((i + 2))
done
[[ -n "$DS_CONFIG_PATH" ]] && ARGS+=(--deepspeed "$DS_CONFIG_PATH")

COMMAND=(
    "$root/qwentune" train
    --model_name_or_path "$MODEL"
    --data_path "$DATA"
    --use_lora "$USE_LORA"
    --q_lora "$Q_LORA"
    "${ARGS[@]}"
    "${EXTRA[@]+"${EXTRA[@]}"}"
)

# The network on this machine that holds or routes to MASTER_ADDR, as CIDR (a.b.c.d/n): interface names may differ
# between nodes, the network does not. Nothing for a loopback address.
master_network() {
    local address cidr device
    address=$(getent ahostsv4 "$MASTER_ADDR" | awk 'NR == 1 { print $1 }' || true)
    [[ -n "$address" ]] || die "MASTER_ADDR=$MASTER_ADDR does not resolve to an IPv4 address"
    if [[ "$address" == 127.* ]]; then
        echo "finetune.sh: MASTER_ADDR=$MASTER_ADDR is a loopback address here; Open MPI picks its own networks." >&2
        return
    fi
    command -v ip >/dev/null || { echo "finetune.sh: no 'ip' command (iproute2); Open MPI picks its own networks." >&2; return; }
    cidr=$(ip -o -4 addr show | awk -v a="$address" '{ split($4, p, "/"); if (p[1] == a) { print $4; exit } }')
    if [[ -z "$cidr" ]]; then
        device=$(ip -o -4 route get "$address" 2>/dev/null | sed -n 's/.* dev \([^ ]*\).*/\1/p')
        [[ -n "$device" ]] && cidr=$(ip -o -4 addr show dev "$device" | awk '{ print $4; exit }')
    fi
    [[ -n "$cidr" ]] || die "MASTER_ADDR=$MASTER_ADDR ($address): no network on this machine reaches it"
    local a b c d prefix
    IFS=./ read -r a b c d prefix <<<"$cidr"
    local mask=$(( prefix == 0 ? 0 : (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF ))
    local net=$(( ((a << 24) | (b << 16) | (c << 8) | d) & mask ))
    printf '%d.%d.%d.%d/%d' $((net >> 24 & 255)) $((net >> 16 & 255)) $((net >> 8 & 255)) $((net & 255)) "$prefix"
}

LAUNCH=("${COMMAND[@]}")
if (( WORLD_SIZE > 1 )); then
    MPIRUN=(mpirun -np "$WORLD_SIZE")
    # As root, mpirun otherwise warns, runs nothing and exits 0. nproc honours OMP_NUM_THREADS, which is not the point.
    (( EUID == 0 )) && MPIRUN+=(--allow-run-as-root)
    (( GPUS_PER_NODE > $(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc) )) && MPIRUN+=(--oversubscribe)
    # Each rank sets its torch threads to its share of the node's cores; Open MPI's default binds a rank to one core.
    MPIRUN+=(--bind-to none --tag-output -wdir "$PWD")
    if (( NNODES > 1 )); then
        # Under Slurm (no HOSTFILE), mpirun reads the allocation and starts its daemons with srun itself.
        [[ -n "$HOSTFILE" ]] && MPIRUN+=(--hostfile "$(absolute "$HOSTFILE")")
        MPIRUN+=(-npernode "$GPUS_PER_NODE")
        if [[ "$MASTER_ADDR" != localhost ]]; then
            network=$(master_network)
            [[ -n "$network" ]] && MPIRUN+=(--mca oob_tcp_if_include "$network" --mca btl_tcp_if_include "$network")
        fi
    fi
    # mpirun passes its own environment to the ranks on this node only; -x carries these to every node.
    # TERM=dumb keeps .NET's console from writing escape codes into the tagged output.
    MPIRUN+=(-x TERM=dumb)
    for name in $(compgen -e | LC_ALL=C sort); do
        [[ "$name" =~ ^(QWENTUNE_|DOTNET_|NCCL_).+|^(OMP_NUM_THREADS|MKL_NUM_THREADS|CUDA_VISIBLE_DEVICES|PATH|LD_LIBRARY_PATH)$ ]] \
            && MPIRUN+=(-x "$name")
    done
    LAUNCH=("${MPIRUN[@]}" "${COMMAND[@]}")
fi

if [[ "$DRY_RUN" == 1 ]]; then
    line=$(printf '%q ' "${LAUNCH[@]}")
    echo "${line% }"
    exit 0
fi
if (( WORLD_SIZE > 1 )); then
    # Build once here (if the sources are newer) rather than in every rank at once.
    "$root/qwentune" train --help >/dev/null
fi
exec "${LAUNCH[@]}"
