using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace QwenTune.IO;

/// <summary>
/// Writes a file so that readers see either the old or the complete new content, never a half-written file:
/// write to <c>name.tmp-XXXXXXXX</c> in the same folder, flush to disk, then rename over the target.
/// </summary>
public static class AtomicFile
{
    /// <summary>Writes <paramref name="path"/> through <paramref name="write"/>, atomically.</summary>
    public static void Write(string path, Action<Stream> write)
    {
        var target = Path.GetFullPath(path);
        var folder = Path.GetDirectoryName(target)!;
        var temporary = $"{target}.tmp-{Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(4))}";
        try
        {
            Directory.CreateDirectory(folder);
            using (var stream = new FileStream(temporary, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
            {
                write(stream);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temporary, target, overwrite: true);
            SyncFolder(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            DeleteQuietly(temporary);
            throw new QwenTuneException($"Cannot write {target}: {e.Message}. Check that the folder is writable and the disk has space.", e);
        }
        catch
        {
            DeleteQuietly(temporary);
            throw;
        }
    }

    public static void WriteAllBytes(string path, ReadOnlyMemory<byte> bytes) =>
        Write(path, stream => stream.Write(bytes.Span));

    /// <summary>Writes UTF-8 text without a byte order mark, as Python's json.dump does.</summary>
    /// <summary>Writes JSON indented, with a final newline, atomically.</summary>
    public static void WriteJson(string path, System.Text.Json.Nodes.JsonNode json) =>
        WriteAllText(path, json.ToJsonString(IndentedJson) + "\n");

    private static readonly System.Text.Json.JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    public static void WriteAllText(string path, string text) =>
        WriteAllBytes(path, new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text));

    // The rename lives in the folder's entry; without syncing the folder a crash can still lose it (POSIX).
    private static void SyncFolder(string folder)
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS())
            return;
        var descriptor = open(folder, 0);
        if (descriptor < 0)
            return;
        _ = fsync(descriptor);
        _ = close(descriptor);
    }

    private static void DeleteQuietly(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The original error matters more than a leftover temporary file.
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int open([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int flags);

    [DllImport("libc", SetLastError = true)]
    private static extern int fsync(int descriptor);

    [DllImport("libc")]
    private static extern int close(int descriptor);
}
