using QwenTune.Configuration;
using QwenTune.Training;

namespace QwenTune.Cli.Commands;

/// <summary>Supervised fine-tuning with Hugging Face TrainingArguments (full, LoRA or Q-LoRA).</summary>
internal sealed class TrainCommand : ICommand
{
    public string Name => "train";

    public string Summary => "Fine-tune a model on ChatML data (full, --use_lora, --q_lora), with HF TrainingArguments flags.";

    public int Run(IReadOnlyList<string> args)
    {
        if (CommandRunner.Parse(this, args, typeof(ModelArguments), typeof(DataArguments), typeof(TrainingArguments), typeof(LoraArguments))
            is not [ModelArguments model, DataArguments data, TrainingArguments training, LoraArguments lora])
            return 0;
        var live = !training.DisableTqdm && !Console.IsErrorRedirected && Environment.GetEnvironmentVariable("TERM") is not (null or "dumb");
        TrainingSession.Run(model, data, training, lora, [new ConsoleProgress(live)], Console.Error);
        return 0;
    }
}
