using System.Diagnostics;
using System.Text.Json.Nodes;
using QwenTune.Tests.Generation;

namespace QwenTune.Tests.Cli;

/// <summary>`qwentune chat` and `qwentune generate` end to end, on a model that memorised one conversation.</summary>
public sealed class ChatCommandTests(MemorisedChatModel memorised) : IClassFixture<MemorisedChatModel>
{
    [Fact]
    public void Chat_prompt_returns_the_memorised_reply_greedily()
    {
        var (code, stdout, stderr) = CliProcess.Run("chat", "--model_name_or_path", memorised.ModelDir,
            "--prompt", MemorisedChatModel.User, "--do_sample", "False", "--max_new_tokens", "40", "--device", "cpu");
        Assert.True(code == 0, stderr);
        Assert.Equal(MemorisedChatModel.Assistant + "\n", stdout);
        Assert.Matches(@"\[\d+ tokens in [\d.]+ s, [\d.]+ tokens/s\]", stderr);
    }

    [Fact]
    public void Session_reads_turns_and_commands_from_stdin()
    {
        var stdin = $"{MemorisedChatModel.User}\n/clear\n{MemorisedChatModel.User}\n/system Be brief.\n/bogus\n/exit\nnever read\n";
        var (code, stdout, stderr) = CliProcess.Run(
            ["chat", "--model_name_or_path", memorised.ModelDir, "--do_sample", "False", "--max_new_tokens", "40", "--device", "cpu"], stdin, null);
        Assert.True(code == 0, stderr);
        // The same question after /clear is the same prompt, so the same reply.
        Assert.Equal($"{MemorisedChatModel.Assistant}\n{MemorisedChatModel.Assistant}\n", stdout);
        Assert.Contains("[conversation cleared]", stderr);
        Assert.Contains("[system prompt set; conversation cleared]", stderr);
        Assert.Contains("[unknown command /bogus", stderr);
    }

    [Fact]
    public async Task Ctrl_c_stops_the_reply_but_not_the_session()
    {
        // Hot sampling with no end in sight (eos barred, no length limit): the reply runs until interrupted, however
        // late the signal comes on a loaded machine.
        using var process = Process.Start(CliProcess.StartInfo(["chat", "--model_name_or_path", memorised.ModelDir, "--do_sample", "True",
            "--temperature", "3", "--top_k", "0", "--top_p", "1", "--max_new_tokens", "1000000", "--min_new_tokens", "1000000", "--device", "cpu"]))!;
        var stderr = process.StandardError.ReadToEndAsync();
        process.StandardInput.WriteLine("Tell me everything.");
        process.StandardInput.Flush();
        var firstChar = new char[1];
        await process.StandardOutput.ReadAsync(firstChar.AsMemory()).AsTask().WaitAsync(TimeSpan.FromMinutes(2));
        using (var interrupt = Process.Start("kill", ["-INT", process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]))
            interrupt.WaitForExit();
        process.StandardInput.WriteLine("/exit");
        process.StandardInput.Close();
        _ = process.StandardOutput.ReadToEndAsync();
        Assert.True(process.WaitForExit(TimeSpan.FromMinutes(2)), "the session did not end after /exit");
        var errors = await stderr;
        Assert.True(process.ExitCode == 0, errors);
        Assert.Contains(", interrupted]", errors);
    }

    [Fact]
    public void Generate_writes_one_line_per_record_in_order_with_reference()
    {
        var data = memorised.File("prompts.jsonl");
        var memorisedRecord = File.ReadAllText(memorised.DataPath).Trim();
        var other = new JsonObject { ["messages"] = new JsonArray(new JsonObject { ["role"] = "user", ["content"] = "Hi" }) }.ToJsonString();
        File.WriteAllLines(data, [other, memorisedRecord, other]);
        var (code, stdout, stderr) = CliProcess.Run("generate", "--model_name_or_path", memorised.ModelDir, "--data_path", data,
            "--batch_size", "2", "--do_sample", "False", "--max_new_tokens", "12", "--device", "cpu");
        Assert.True(code == 0, stderr);
        var lines = stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => JsonNode.Parse(l)!.AsObject()).ToList();
        Assert.Equal(3, lines.Count);
        Assert.Equal("Hi", (string?)lines[0]["messages"]![0]!["content"]);
        var answer = lines[1];
        Assert.Equal(MemorisedChatModel.User, (string?)answer["messages"]![0]!["content"]);
        Assert.Single(answer["messages"]!.AsArray());
        Assert.Equal(MemorisedChatModel.Assistant, (string?)answer["response"]);
        Assert.Equal(MemorisedChatModel.Assistant, (string?)answer["reference"]);
        Assert.Equal("stop", (string?)answer["finish_reason"]);
        Assert.InRange((int)answer["tokens"]!, 1, 11);
        // The same prompt gives the same greedy reply in either batch, padded or not.
        Assert.Equal((string?)lines[0]["response"], (string?)lines[2]["response"]);
        Assert.Null(lines[0]["reference"]);
    }

    [Fact]
    public void Generate_refuses_a_conversation_without_a_user_turn_to_answer()
    {
        var data = memorised.File("bad.jsonl");
        File.WriteAllText(data, "{\"messages\": [{\"role\": \"user\", \"content\": \"a\"}]}\n{\"messages\": [{\"role\": \"assistant\", \"content\": \"b\"}]}\n");
        var (code, _, stderr) = CliProcess.Run("generate", "--model_name_or_path", memorised.ModelDir, "--data_path", data);
        Assert.Equal(1, code);
        Assert.Contains($"{data}:2: a conversation to answer must end with a user (or tool) turn", stderr);
        Assert.DoesNotContain("   at ", stderr);
    }

    [Theory]
    [InlineData("--temperature", "0", "temperature must be positive when sampling")]
    [InlineData("--top_p", "0", "top_p must be in (0, 1]")]
    [InlineData("--learning_rate", "1", "it is one of `qwentune train`")]
    public void Bad_generation_flags_are_refused_with_the_reason(string flag, string value, string message)
    {
        var (code, _, stderr) = CliProcess.Run("chat", "--model_name_or_path", memorised.ModelDir, "--prompt", "x", "--do_sample", "True", flag, value);
        Assert.NotEqual(0, code);
        Assert.Contains(message, stderr);
        Assert.DoesNotContain("   at ", stderr);
    }
}
