#!/usr/bin/env bash
# Qwen's examples/sft/finetune.sh interface, on QwenTune:
#   bash finetune.sh -m <model dir> -d <data.jsonl> [--deepspeed <ds_config.json>] [--use_lora True] [--q_lora True] [--any_hf_flag value ...]
# With no -m, a small Qwen2.5-architecture model is initialised locally (examples/tiny-qwen2.5, seeded) and trained
# on examples/data/train.jsonl: the embedded default that runs on any machine, no download needed.
# Flags after the known ones go to `qwentune train` and override the defaults below (Qwen's values).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# Number of processes per node and nodes. Qwen's script asks torch for the GPU count; without a GPU stack we default to 1.
GPUS_PER_NODE=${GPUS_PER_NODE:-1}
NNODES=${NNODES:-1}
NODE_RANK=${NODE_RANK:-0}
MASTER_ADDR=${MASTER_ADDR:-localhost}
MASTER_PORT=${MASTER_PORT:-6001}

MODEL=""
DATA=""
DS_CONFIG_PATH=""
USE_LORA=False
Q_LORA=False
EXTRA=()

usage() {
    cat <<'USAGE'
Usage: bash finetune.sh [-m MODEL_PATH] [-d DATA_PATH] [--deepspeed DS_CONFIG_PATH] [--use_lora USE_LORA] [--q_lora Q_LORA] [HF flags...]

  -m, --model       a local Hugging Face model folder (default: a small model initialised from examples/tiny-qwen2.5)
  -d, --data        ChatML JSON Lines data (default: examples/data/train.jsonl)
  --deepspeed       a DeepSpeed JSON config (configs/ds_config_zero2.json, configs/ds_config_zero3.json)
  --use_lora        True to train LoRA adapters
  --q_lora          True (with --use_lora True) for Q-LoRA on a 4-bit NF4 base
  -h, --help        this help; `./qwentune train --help` lists every flag
Environment: GPUS_PER_NODE, NNODES, NODE_RANK, MASTER_ADDR, MASTER_PORT (as in Qwen's script).
USAGE
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        -m | --model ) MODEL="${2:?-m needs a model folder}"; shift 2 ;;
        -d | --data ) DATA="${2:?-d needs a data file}"; shift 2 ;;
        --deepspeed ) DS_CONFIG_PATH="${2:?--deepspeed needs a config file}"; shift 2 ;;
        --use_lora ) USE_LORA="${2:?--use_lora needs True or False}"; shift 2 ;;
        --q_lora ) Q_LORA="${2:?--q_lora needs True or False}"; shift 2 ;;
        -h | --help ) usage; exit 0 ;;
        --* ) EXTRA+=("$1"); shift
              while [[ $# -gt 0 && "$1" != --* && "$1" != -m && "$1" != -d && "$1" != -h ]]; do EXTRA+=("$1"); shift; done ;;
        * ) echo "finetune.sh: unknown argument '$1' (see -h)" >&2; exit 1 ;;
    esac
done

WORLD_SIZE=$((GPUS_PER_NODE * NNODES))
if (( WORLD_SIZE > 1 )); then
    echo "finetune.sh: GPUS_PER_NODE=$GPUS_PER_NODE x NNODES=$NNODES asks for $WORLD_SIZE processes; this QwenTune build trains in one process." >&2
    echo "             Data-parallel / ZeRO training over Open MPI is not available yet: set GPUS_PER_NODE=1 NNODES=1." >&2
    exit 2
fi

if [[ -z "$MODEL" ]]; then
    MODEL="$root/.cache/tiny-qwen2.5"
    if [[ ! -f "$MODEL/model.safetensors" ]]; then
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

exec "$root/qwentune" train \
    --model_name_or_path "$MODEL" \
    --data_path "$DATA" \
    --use_lora "$USE_LORA" \
    --q_lora "$Q_LORA" \
    "${ARGS[@]}" \
    "${EXTRA[@]+"${EXTRA[@]}"}"
