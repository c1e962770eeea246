using System.Text;
using QwenTune.Configuration;

namespace QwenTune.Fuzz.Targets;

/// <summary>
/// The <c>train</c> command line: one argument per line of the input, parsed into the four argument groups as
/// <c>qwentune train</c> and finetune.sh do.
/// </summary>
public sealed class ArgumentsTarget : IFuzzTarget
{
    public string Name => "arguments";

    public string Description => "TrainingRequest.Parse (HfArgumentParser over model/data/training/LoRA arguments)";

    public string InputFileName => "args.txt";

    public IReadOnlyList<string> Dictionary { get; } =
    [
        "--model_name_or_path\n", "--data_path\n", "--output_dir\n", "--learning_rate\n", "--num_train_epochs\n",
        "--per_device_train_batch_size\n", "--gradient_accumulation_steps\n", "--bf16\n", "--fp16\n", "True\n", "False\n",
        "--use_lora\n", "--lora_r\n", "--lora_target_modules\n", "--deepspeed\n", "--model_max_length\n", "--max_steps\n",
        "--lr_scheduler_type\n", "cosine\n", "--warmup_ratio\n", "--adam_beta1\n", "--report_to\n", "none\n", "--help\n",
        "=", "--", "-1\n", "1e-5\n", "nan\n", "inf\n", "--save_strategy\n", "steps\n", "--eval_strategy\n", "--seed\n",
    ];

    public void Prepare(string workFolder) => Directory.CreateDirectory(workFolder);

    public void Execute(string inputPath, byte[] input)
    {
        var args = Encoding.UTF8.GetString(input).Split('\n');
        TrainingRequest.Parse(args);
    }
}
