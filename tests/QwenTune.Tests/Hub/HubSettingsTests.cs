using QwenTune.Hub;

namespace QwenTune.Tests.Hub;

/// <summary>The environment variables huggingface_hub reads (constants.py), with the same precedence.</summary>
public sealed class HubSettingsTests
{
    private static HubSettings From(Dictionary<string, string> variables, string? cacheDir = null) =>
        HubSettings.FromEnvironment(cacheDir, name => variables.GetValueOrDefault(name));

    [Fact]
    public void Cache_folder_precedence_is_cache_dir_then_HF_HUB_CACHE_then_HF_HOME_then_home()
    {
        Dictionary<string, string> env = new() { ["HOME"] = "/home/u" };
        Assert.Equal("/home/u/.cache/huggingface/hub", From(env).CacheDirectory);
        env["XDG_CACHE_HOME"] = "/xdg";
        Assert.Equal("/xdg/huggingface/hub", From(env).CacheDirectory);
        env["HF_HOME"] = "/hf";
        Assert.Equal("/hf/hub", From(env).CacheDirectory);
        env["HF_HUB_CACHE"] = "/hub-cache";
        Assert.Equal("/hub-cache", From(env).CacheDirectory);
        Assert.Equal("/given", From(env, cacheDir: "/given").CacheDirectory);
        Assert.Equal("/home/u/models", From(env, cacheDir: "~/models").CacheDirectory);
    }

    [Fact]
    public void Endpoint_token_and_offline_come_from_the_environment()
    {
        var defaults = From(new() { ["HOME"] = "/nonexistent-home" });
        Assert.Equal("https://huggingface.co", defaults.Endpoint);
        Assert.Null(defaults.Token);
        Assert.False(defaults.Offline);

        var set = From(new() { ["HOME"] = "/nonexistent-home", ["HF_ENDPOINT"] = "https://hf-mirror.com/", ["HF_TOKEN"] = "hf_abc", ["HF_HUB_OFFLINE"] = "1" });
        Assert.Equal("https://hf-mirror.com", set.Endpoint);
        Assert.Equal("hf_abc", set.Token);
        Assert.True(set.Offline);

        foreach (var value in new[] { "ON", "yes", "True" })
            Assert.True(From(new() { ["HOME"] = "/x", ["HF_HUB_OFFLINE"] = value }).Offline);
        foreach (var value in new[] { "0", "false", "" })
            Assert.False(From(new() { ["HOME"] = "/x", ["HF_HUB_OFFLINE"] = value }).Offline);
    }

    [Fact]
    public void The_token_file_of_huggingface_cli_login_is_read()
    {
        using var home = new TempFolder();
        File.WriteAllText(home.File("token"), "hf_from_file\n");
        Assert.Equal("hf_from_file", From(new() { ["HOME"] = "/x", ["HF_HOME"] = home.Path }).Token);
        Assert.Equal("hf_env", From(new() { ["HOME"] = "/x", ["HF_HOME"] = home.Path, ["HF_TOKEN"] = "hf_env" }).Token);
    }

    [Theory]
    [InlineData("Qwen/Qwen2.5-0.5B-Instruct", true)]
    [InlineData("gpt2", true)]
    [InlineData("org/name.with_dots-1", true)]
    [InlineData("/abs/path", false)]
    [InlineData("./rel", false)]
    [InlineData("a/b/c", false)]
    [InlineData("org--x/name", false)]
    [InlineData("org/..", false)]
    [InlineData("org/name.git", false)]
    public void Repo_ids_follow_huggingface_hubs_rules(string text, bool valid)
    {
        Assert.Equal(valid, HubRepoId.TryParse(text, out var id));
        if (valid && text.Contains('/'))
            Assert.Equal("models--" + text.Replace("/", "--"), id.FolderName);
    }
}
