namespace QwenTune.Configuration;

/// <summary>Hugging Face TrainingArguments, with the same names, meanings and defaults.</summary>
[OptionGroup("Training arguments")]
public sealed record TrainingArguments
{
    [Option("output_dir", "Where checkpoints and the final model are written.")]
    public string OutputDir { get; init; } = "output_qwen";

    [Option("overwrite_output_dir", "Start afresh even if output_dir holds checkpoints (they are then replaced as new ones are saved).")]
    public bool OverwriteOutputDir { get; init; }

    [Option("num_train_epochs", "Passes over the training data (fractions allowed).")]
    public double NumTrainEpochs { get; init; } = 3.0;

    [Option("max_steps", "If > 0: total optimizer steps, overriding num_train_epochs.")]
    public int MaxSteps { get; init; } = -1;

    [Option("per_device_train_batch_size", "Samples per micro-batch and process.")]
    public int PerDeviceTrainBatchSize { get; init; } = 8;

    [Option("per_device_eval_batch_size", "Samples per evaluation batch.")]
    public int PerDeviceEvalBatchSize { get; init; } = 8;

    [Option("gradient_accumulation_steps", "Micro-batches per optimizer step.")]
    public int GradientAccumulationSteps { get; init; } = 1;

    [Option("learning_rate", "Peak learning rate of AdamW.")]
    public double LearningRate { get; init; } = 5e-5;

    [Option("weight_decay", "Decoupled weight decay (not applied to biases and norm weights).")]
    public double WeightDecay { get; init; }

    [Option("adam_beta1", "AdamW beta1.")]
    public double AdamBeta1 { get; init; } = 0.9;

    [Option("adam_beta2", "AdamW beta2.")]
    public double AdamBeta2 { get; init; } = 0.999;

    [Option("adam_epsilon", "AdamW epsilon.")]
    public double AdamEpsilon { get; init; } = 1e-8;

    [Option("max_grad_norm", "Clip the global gradient norm to this (0 disables).")]
    public double MaxGradNorm { get; init; } = 1.0;

    [Option("lr_scheduler_type", "Learning-rate schedule.",
        Choices = ["linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup"])]
    public string LrSchedulerType { get; init; } = "linear";

    [Option("warmup_steps", "Linear warmup steps (overrides warmup_ratio when > 0).")]
    public int WarmupSteps { get; init; }

    [Option("warmup_ratio", "Linear warmup as a fraction of the total steps.")]
    public double WarmupRatio { get; init; }

    [Option("logging_steps", "Log every N optimizer steps.")]
    public double LoggingSteps { get; init; } = 500;

    [Option("save_strategy", "When to save checkpoints.", Choices = ["no", "steps", "epoch"])]
    public string SaveStrategy { get; init; } = "steps";

    [Option("save_steps", "Save every N optimizer steps (save_strategy steps).")]
    public double SaveSteps { get; init; } = 500;

    [Option("save_total_limit", "Keep at most N checkpoints; the oldest are removed.")]
    public int? SaveTotalLimit { get; init; }

    [Option("eval_strategy", "When to evaluate on eval_data_path.", Choices = ["no", "steps", "epoch"], Aliases = ["evaluation_strategy"])]
    public string EvalStrategy { get; init; } = "no";

    [Option("eval_steps", "Evaluate every N optimizer steps (default: logging_steps).")]
    public double? EvalSteps { get; init; }

    [Option("seed", "Random seed for initialisation, shuffling and dropout (chat, generate: for sampling).")]
    public int Seed { get; init; } = 42;

    [Option("bf16", "bfloat16 weights and activations with float32 master weights and optimizer state.")]
    public bool Bf16 { get; init; }

    [Option("fp16", "float16 with dynamic loss scaling (CUDA only).")]
    public bool Fp16 { get; init; }

    [Option("gradient_checkpointing", "Recompute each decoder layer in backward to save activation memory.")]
    public bool GradientCheckpointing { get; init; }

    [Option("report_to", "Experiment trackers: tensorboard (event files in logging_dir), all (= tensorboard), none; wandb and other services are refused with the reason.")]
    public IReadOnlyList<string> ReportTo { get; init; } = ["none"];

    [Option("resume_from_checkpoint", "Resume from this checkpoint folder (else the newest checkpoint-* in output_dir).")]
    public string? ResumeFromCheckpoint { get; init; }

    [Option("optim", "Optimizer: adamw_torch and adamw_torch_fused (torch.optim.AdamW's arithmetic), adamw_hf (transformers' legacy AdamW); other HF names are refused with the reason.")]
    public string Optim { get; init; } = "adamw_torch";

    [Option("deepspeed", "A DeepSpeed JSON config (ds_config_zero2.json / ds_config_zero3.json).")]
    public string? DeepSpeed { get; init; }

    [Option("disable_tqdm", "Plain log lines instead of a live progress bar.")]
    public bool DisableTqdm { get; init; }

    [Option("max_skipped_steps", "Stop after this many consecutive steps with a NaN or infinite loss or gradient norm (each is skipped, no update); 0 never stops.")]
    public int MaxSkippedSteps { get; init; } = 20;

    [Option("overwrite_base_model", "Allow --output_dir to be --model_name_or_path (the base model's files are then replaced).")]
    public bool OverwriteBaseModel { get; init; }

    [Option("allow_resume_changes", "Resume even though data_path, the global batch, model_max_length, seed, group_by_length or train_on_prompt differ from the checkpoint's training_args.json.")]
    public bool AllowResumeChanges { get; init; }

    [Option("torch_threads", "CPU threads for libtorch (default: all cores).")]
    public int? TorchThreads { get; init; }

    [Option("logging_dir", "TensorBoard event folder (default: output_dir/runs/<Mon><DD>_<HH-MM-SS>_<host>, as HF).")]
    public string? LoggingDir { get; init; }

    [Option("logging_first_step", "Also log the first optimizer step.")]
    public bool LoggingFirstStep { get; init; }

    [Option("run_name", "A name for the run: titles the loss plot and is recorded with the arguments (default: output_dir).")]
    public string? RunName { get; init; }

    [Option("save_only_model", "Checkpoints hold the model (or adapter) only, no optimizer, scheduler or RNG state: smaller, but they cannot be resumed.")]
    public bool SaveOnlyModel { get; init; }

    [Option("load_best_model_at_end", "Write the best checkpoint's weights (by metric_for_best_model) as the final model; eval_strategy and save_strategy must match.")]
    public bool LoadBestModelAtEnd { get; init; }

    [Option("metric_for_best_model", "The evaluation metric that picks the best checkpoint: loss or perplexity (default: loss).")]
    public string? MetricForBestModel { get; init; }

    [Option("greater_is_better", "Whether a larger metric_for_best_model is better (default: False for a metric ending in loss, else True, as HF).")]
    public bool? GreaterIsBetter { get; init; }

    [Option("dataloader_num_workers", "Threads that tokenize the data before training (0: the main thread alone).")]
    public int DataloaderNumWorkers { get; init; }

    [Option("tf32", "Allow TF32 matrix products on CUDA (Ampere and newer); a no-op on CPU.")]
    public bool? Tf32 { get; init; }

    [Option("local_rank", "Accepted for torch.distributed.launch scripts and ignored: ranks come from mpirun's or srun's environment.")]
    public int LocalRank { get; init; } = -1;
}
