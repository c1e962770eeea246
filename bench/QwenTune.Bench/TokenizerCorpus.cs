using System.Text.Json;
using System.Xml.Linq;

namespace QwenTune.Bench;

/// <summary>
/// A mixed text corpus for the tokenizer benchmark, built from texts found on any machine that can run it:
/// English prose from the .NET SDK's reference documentation (XML doc comments), code from this repository's C#
/// sources and (where installed) Python's standard library, CJK from the fixtures, Vim's Chinese/Japanese/Korean
/// tutors (where installed) and paragraphs below, emoji-heavy chat lines below, and the rendered chat fixtures.
/// Documents are cut to at most 4 KiB, like training samples, and shuffled with a fixed seed.
/// </summary>
internal static class TokenizerCorpus
{
    private const int DocumentChars = 4096;

    public sealed record Document(string Category, string Text);

    public static List<Document> Build(string repositoryRoot, string fixturesRoot, int proseChars = 2_400_000, int codeChars = 1_200_000)
    {
        var documents = new List<Document>();
        documents.AddRange(Cut("prose", DotnetDocText().Take(proseChars)));
        documents.AddRange(Cut("code", CodeText(repositoryRoot).Take(codeChars)));
        documents.AddRange(Cut("cjk", CjkText(fixturesRoot)));
        documents.AddRange(Cut("emoji", EmojiText()));
        documents.AddRange(ChatText(fixturesRoot).Select(text => new Document("chat", text)));
        var random = new Random(1234);
        return documents.OrderBy(_ => random.Next()).ToList();
    }

    private static IEnumerable<Document> Cut(string category, IEnumerable<char> text)
    {
        var buffer = new System.Text.StringBuilder(DocumentChars);
        foreach (var c in text)
        {
            buffer.Append(c);
            // Cut at a line end once long enough, never inside a surrogate pair.
            if (buffer.Length >= DocumentChars && c == '\n')
            {
                yield return new Document(category, buffer.ToString());
                buffer.Clear();
            }
        }
        if (buffer.Length > 0)
            yield return new Document(category, buffer.ToString());
    }

    private static IEnumerable<char> DotnetDocText()
    {
        var dotnetRoot = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(typeof(object).Assembly.Location)!, "..", "..", ".."));
        var refPacks = Path.Combine(dotnetRoot, "packs", "Microsoft.NETCore.App.Ref");
        if (!Directory.Exists(refPacks))
            yield break;
        var files = Directory.EnumerateFiles(refPacks, "*.xml", SearchOption.AllDirectories)
            .Where(f => !f.Contains(Path.DirectorySeparatorChar + "data" + Path.DirectorySeparatorChar))
            .Order(StringComparer.Ordinal);
        foreach (var file in files)
        {
            XDocument xml;
            try
            {
                xml = XDocument.Load(file);
            }
            catch (System.Xml.XmlException)
            {
                continue;
            }
            foreach (var member in xml.Descendants("member"))
            {
                var text = string.Join("\n", member.Elements().Select(e => NormalizeSpaces(e.Value)).Where(t => t.Length > 0));
                foreach (var c in text)
                    yield return c;
                yield return '\n';
            }
        }
    }

    private static string NormalizeSpaces(string text) =>
        string.Join(' ', text.Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries));

    private static IEnumerable<char> CodeText(string repositoryRoot)
    {
        var sources = Directory.EnumerateFiles(repositoryRoot, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains("/obj/") && !f.Contains("/bin/"))
            .Order(StringComparer.Ordinal)
            .ToList();
        var python = Directory.Exists("/usr/lib")
            ? Directory.EnumerateDirectories("/usr/lib", "python3.*").Order(StringComparer.Ordinal).LastOrDefault()
            : null;
        if (python is not null)
            sources.AddRange(Directory.EnumerateFiles(python, "*.py").Order(StringComparer.Ordinal));
        foreach (var file in sources)
        {
            foreach (var c in File.ReadAllText(file))
                yield return c;
            yield return '\n';
        }
    }

    private static IEnumerable<char> CjkText(string fixturesRoot)
    {
        var texts = new List<string> { ChineseParagraphs, JapaneseParagraphs, KoreanParagraphs };
        foreach (var line in File.ReadLines(Path.Combine(fixturesRoot, "tokenizers", "parity.jsonl")))
        {
            var text = JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!;
            if (text.Any(c => c >= 0x3000))
                texts.Add(text);
        }
        foreach (var tutor in new[] { "tutor.zh_cn.utf-8", "tutor.ja.utf-8", "tutor.ko.utf-8" })
        {
            var found = Directory.Exists("/usr/share/vim")
                ? Directory.EnumerateFiles("/usr/share/vim", tutor, SearchOption.AllDirectories).FirstOrDefault()
                : null;
            if (found is not null)
                texts.Add(File.ReadAllText(found));
        }
        return string.Join("\n\n", texts);
    }

    private static IEnumerable<char> EmojiText()
    {
        // Chat-style lines: emoji with skin tones, ZWJ families, flags and keycaps between words, repeated with
        // varying numbers so the text is not one string over and over.
        var random = new Random(42);
        var builder = new System.Text.StringBuilder();
        for (var i = 0; i < 1500; i++)
        {
            var line = EmojiLines[random.Next(EmojiLines.Length)];
            builder.Append(line.Replace("{n}", random.Next(1, 10_000).ToString())).Append('\n');
        }
        return builder.ToString();
    }

    private static IEnumerable<string> ChatText(string fixturesRoot) =>
        File.ReadLines(Path.Combine(fixturesRoot, "chat-templates", "rendered.jsonl"))
            .Select(line => JsonDocument.Parse(line).RootElement.GetProperty("text").GetString()!);

    private static readonly string[] EmojiLines =
    [
        "That's amazing 😂😂 I can't believe it worked on the first try 🎉🎉🎉",
        "Good morning ☀️ coffee first ☕ then {n} emails 📧😩",
        "Family trip 👨‍👩‍👧‍👦 to Tokyo 🇯🇵 and Seoul 🇰🇷, {n} photos 📸",
        "👍🏽 thanks! see you at 3️⃣ pm, room #{n} 🏢",
        "Status: ✅ build ❌ tests ⚠️ {n} warnings 🤦‍♂️",
        "Love this ❤️🔥 so much, 10/10 would recommend 💯",
        "🚀 Shipped v{n}! Release notes 👉 https://example.com/releases/{n} 🙏",
        "我们今天去吃火锅吧 🍲😋 一共{n}个人",
        "今日はいい天気ですね 🌸🌤️ 散歩に行きましょう 🚶‍♀️",
        "오늘 날씨 정말 좋다 😊🌈 {n}번째 산책",
        "Math fonts 𝐁𝐨𝐥𝐝 𝑰𝒕𝒂𝒍𝒊𝒄 𝟏𝟐𝟑 and 𠮷野家 are astral-plane text 🧮",
    ];

    private const string ChineseParagraphs =
        "大型语言模型是一种基于深度学习的人工智能模型，它通过在海量文本数据上进行训练，学习语言的统计规律和语义结构。" +
        "这类模型通常采用Transformer架构，利用自注意力机制捕捉长距离依赖关系。训练完成后，模型可以用于文本生成、机器翻译、" +
        "问答系统、代码补全等多种任务。\n\n" +
        "监督微调是在预训练模型的基础上，使用带有标注的指令数据继续训练的过程。与预训练相比，微调所需的数据量和计算资源要少得多，" +
        "但对数据质量的要求更高。常见的做法包括全参数微调和低秩适配（LoRA），后者只训练少量新增参数，因此显存占用更低、训练速度更快。\n\n" +
        "在实际应用中，我们需要关注模型的安全性、可靠性以及推理成本。例如，量化技术可以把权重从十六位浮点数压缩到四位整数，" +
        "从而在消费级显卡上运行数十亿参数的模型。分布式训练则通过数据并行、张量并行和流水线并行等策略，把计算分摊到多台机器上。\n";

    private const string JapaneseParagraphs =
        "大規模言語モデルは、大量のテキストデータから言語のパターンを学習する人工知能の一種です。" +
        "学習済みのモデルは、文章の要約、翻訳、質問応答、プログラムの作成など、さまざまな作業に利用できます。\n\n" +
        "ファインチューニングでは、事前学習済みのモデルに対して、特定のタスク向けのデータで追加の学習を行います。" +
        "データの品質が結果を大きく左右するため、指示と応答の組み合わせを丁寧に作成することが大切です。" +
        "カタカナ語（トークナイザー、パラメーター、バッチサイズ）とひらがなが混ざった文章も、よく見かけます。\n";

    private const string KoreanParagraphs =
        "대규모 언어 모델은 방대한 양의 텍스트 데이터를 학습하여 언어의 규칙과 의미를 익히는 인공지능 모델입니다. " +
        "미세 조정을 통해 특정 작업에 맞게 모델의 성능을 높일 수 있으며, 적은 자원으로도 좋은 결과를 얻을 수 있습니다.\n";
}
