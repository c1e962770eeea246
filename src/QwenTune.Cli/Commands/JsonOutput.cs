using System.Text.Encodings.Web;
using System.Text.Json;

namespace QwenTune.Cli.Commands;

/// <summary>JSON as people read it: non-ASCII text unescaped (like Python's ensure_ascii=False).</summary>
internal static class JsonOutput
{
    public static readonly JsonSerializerOptions Options = new() { Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping };
}
