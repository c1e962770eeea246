namespace QwenTune.Configuration;

/// <summary>
/// Hugging Face TrainingArguments (transformers 4.x and 5) that QwenTune does not take, each with the reason, so a
/// script written for HF's Trainer fails with "HF's --X is not supported here: why" instead of "unknown option".
/// </summary>
public static class UnsupportedHfArguments
{
    private const string NoPythonCompile = "torch.compile and TorchDynamo are Python features; TorchSharp runs libtorch's kernels eagerly";
    private const string NoFsdp = "FSDP is not implemented; --deepspeed configs/ds_config_zero3.json shards parameters, gradients and optimizer state the same way";
    private const string NoDdp = "ranks run under mpirun or srun over MPI (or NCCL) collectives, not torch's DistributedDataParallel; the DeepSpeed config's reduce_bucket_size sets the bucket size";
    private const string NoHubUpload = "uploading to the Hub is not implemented; upload output_dir with `huggingface-cli upload` after training";
    private const string NoLoaderWorkers = "there are no data-loader worker processes: --dataloader_num_workers tokenizes the data on threads before training";
    private const string NoMetrics = "evaluation reports eval_loss and eval_perplexity only; there is no compute_metrics";

    public static IReadOnlyDictionary<string, string> Reasons { get; } = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        // What to run
        ["do_train"] = "`qwentune train` always trains; drop the flag",
        ["do_eval"] = "evaluation runs when --eval_strategy is steps or epoch, on --eval_data_path; `qwentune eval` evaluates a saved model",
        ["do_predict"] = "there is no prediction pass; `qwentune eval` reports the loss and perplexity of a data file",
        ["prediction_loss_only"] = "evaluation computes only the loss already",
        ["eval_on_start"] = "the first evaluation is at the first --eval_steps (or epoch) boundary",
        ["eval_delay"] = "evaluation follows --eval_strategy and --eval_steps from the start",
        ["eval_accumulation_steps"] = "evaluation keeps only loss sums, so there are no predictions to accumulate",
        ["eval_do_concat_batches"] = "evaluation keeps only loss sums, so there are no batches to concatenate",
        ["eval_use_gather_object"] = "evaluation keeps only loss sums, so there are no objects to gather",
        ["batch_eval_metrics"] = NoMetrics,
        ["include_inputs_for_metrics"] = NoMetrics,
        ["include_for_metrics"] = NoMetrics,
        ["use_legacy_prediction_loop"] = "there is no prediction loop",
        ["past_index"] = "it serves models with memories (Transformer-XL, XLNet), not Qwen",
        // Batches and data
        ["per_gpu_train_batch_size"] = "HF's deprecated name; use --per_device_train_batch_size",
        ["per_gpu_eval_batch_size"] = "HF's deprecated name; use --per_device_eval_batch_size",
        ["auto_find_batch_size"] = "the batch size is not searched for; `qwentune estimate` tells beforehand whether a batch fits in memory",
        ["dataloader_drop_last"] = "a short last batch is always kept (HF's default)",
        ["dataloader_pin_memory"] = "batches are built in ordinary host memory and copied to the device once",
        ["dataloader_persistent_workers"] = NoLoaderWorkers,
        ["dataloader_prefetch_factor"] = NoLoaderWorkers,
        ["remove_unused_columns"] = "the data is ChatML conversations, featurized to input_ids and labels only",
        ["label_names"] = "labels always come from the assistant turns (or every token with --train_on_prompt)",
        ["length_column_name"] = "--group_by_length measures lengths itself",
        ["train_sampling_strategy"] = "sampling is random per epoch (seeded); use --group_by_length for length grouping",
        ["data_seed"] = "the data order follows --seed",
        ["ignore_data_skip"] = "a resumed run always continues at the batch where it stopped (each epoch's order is a function of the seed)",
        // Optimizer, schedule, loss
        ["lr_scheduler_kwargs"] = "each --lr_scheduler_type runs with HF's default arguments",
        ["optim_args"] = "--optim offers AdamW variants only, which take no extra arguments",
        ["optim_target_modules"] = "GaLore and APOLLO are not implemented; --optim offers AdamW variants only",
        ["adafactor"] = "Adafactor is not implemented; use --optim adamw_torch",
        ["label_smoothing_factor"] = "label smoothing is not implemented: the loss is token-level cross-entropy, as in Qwen's finetune.py",
        ["neftune_noise_alpha"] = "NEFTune embedding noise is not implemented",
        ["average_tokens_across_devices"] = "the loss is always averaged over the target tokens of all ranks",
        ["gradient_checkpointing_kwargs"] = "checkpointing recomputes each decoder layer and takes no options",
        ["use_cache"] = "training never uses the KV cache",
        // Precision and hardware
        ["bf16_full_eval"] = "evaluation runs in the training precision",
        ["fp16_full_eval"] = "evaluation runs in the training precision",
        ["fp16_opt_level"] = "apex is a Python CUDA extension; --fp16 uses native dynamic loss scaling",
        ["fp16_backend"] = "apex is a Python CUDA extension; --fp16 uses native dynamic loss scaling",
        ["half_precision_backend"] = "apex is a Python CUDA extension; --fp16 uses native dynamic loss scaling",
        ["use_cpu"] = "use --device cpu",
        ["no_cuda"] = "use --device cpu",
        ["use_mps_device"] = "Apple's MPS is not supported: the device is cpu or cuda",
        ["use_ipex"] = "Intel's extension for PyTorch is a Python package",
        ["jit_mode_eval"] = "TorchScript tracing is a Python feature",
        ["tpu_num_cores"] = "TPUs are not supported",
        ["tpu_metrics_debug"] = "TPUs are not supported",
        ["torch_empty_cache_steps"] = "libtorch's caching allocator is left to manage itself",
        ["full_determinism"] = "--seed fixes initialisation, data order and dropout; libtorch's deterministic-algorithms switch is not exposed",
        ["torch_compile"] = NoPythonCompile,
        ["torch_compile_backend"] = NoPythonCompile,
        ["torch_compile_mode"] = NoPythonCompile,
        ["torchdynamo"] = NoPythonCompile,
        ["use_liger_kernel"] = "Liger's kernels are Triton (Python); the loss head here is already computed blockwise without full logits",
        ["liger_kernel_config"] = "Liger's kernels are Triton (Python); the loss head here is already computed blockwise without full logits",
        // Distribution
        ["fsdp"] = NoFsdp,
        ["fsdp_config"] = NoFsdp,
        ["fsdp_min_num_params"] = NoFsdp,
        ["fsdp_transformer_layer_cls_to_wrap"] = NoFsdp,
        ["accelerator_config"] = "Accelerate is a Python library; ranks come from mpirun or srun",
        ["parallelism_config"] = "tensor, context and pipeline parallelism are not implemented; ranks are data-parallel (ZeRO 0-3)",
        ["ddp_backend"] = NoDdp,
        ["ddp_find_unused_parameters"] = NoDdp,
        ["ddp_bucket_cap_mb"] = NoDdp,
        ["ddp_broadcast_buffers"] = NoDdp,
        ["ddp_timeout"] = NoDdp,
        ["mp_parameters"] = "SageMaker model parallelism is not supported",
        // Logging and saving
        ["log_level"] = "the output is fixed: progress and messages on stderr, one JSON line per log row on stdout",
        ["log_level_replica"] = "only rank 0 logs",
        ["log_on_each_node"] = "only rank 0 logs",
        ["logging_strategy"] = "logging is by steps: --logging_steps (fractions of the run allowed); the last step is always logged",
        ["logging_nan_inf_filter"] = "non-finite losses are always left out of the logged mean (HF's default)",
        ["include_tokens_per_second"] = "tokens_per_second is in every log row already",
        ["include_num_input_tokens_seen"] = "num_input_tokens_seen is always counted in trainer_state.json",
        ["skip_memory_metrics"] = "the peak resident memory is always in train_results.json",
        ["save_safetensors"] = "everything is saved as safetensors (HF's default)",
        ["save_on_each_node"] = "rank 0 writes every checkpoint, consolidated",
        ["restore_callback_states_from_checkpoint"] = "no callback keeps state in checkpoints",
        ["project"] = "it names a Trackio project, and Trackio is not supported (see --report_to)",
        ["trackio_space_id"] = "Trackio is not supported (see --report_to)",
        ["ray_scope"] = "hyperparameter search is not implemented",
        ["debug"] = "underflow/overflow detection hooks Python modules; TPU metrics need a TPU",
        // The Hub
        ["push_to_hub"] = NoHubUpload,
        ["hub_model_id"] = NoHubUpload,
        ["hub_strategy"] = NoHubUpload,
        ["hub_token"] = NoHubUpload,
        ["hub_private_repo"] = NoHubUpload,
        ["hub_always_push"] = NoHubUpload,
        ["hub_revision"] = NoHubUpload,
        ["push_to_hub_model_id"] = NoHubUpload,
        ["push_to_hub_organization"] = NoHubUpload,
        ["push_to_hub_token"] = NoHubUpload,
    };

    /// <summary>The message for an HF TrainingArguments flag that is not taken here, or null for any other name.</summary>
    public static string? Explain(string name) =>
        Reasons.TryGetValue(name, out var reason) ? $"HF's --{name} is not supported here: {reason}." : null;
}
