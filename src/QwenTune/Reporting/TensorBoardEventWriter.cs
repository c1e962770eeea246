using System.Globalization;
using Google.Protobuf;
using QwenTune.Reporting.Proto;

namespace QwenTune.Reporting;

/// <summary>
/// Writes one TensorBoard event file, as torch.utils.tensorboard's SummaryWriter does: named
/// events.out.tfevents.{seconds}.{host}.{pid}.{n}, opened with a file_version "brain.Event:2" record, then scalar and
/// text summaries. Records reach the disk at <see cref="Flush"/> (HF flushes after every log row).
/// </summary>
public sealed class TensorBoardEventWriter : IDisposable
{
    public const string FileVersion = "brain.Event:2";

    /// <summary>The last part of a file name, so two writers in one process never share a file (tensorboard's _global_uid).</summary>
    private static int _nextId;

    private readonly TfRecordWriter _records;
    private readonly TimeProvider _clock;

    public TensorBoardEventWriter(string logDir, TimeProvider? clock = null)
    {
        _clock = clock ?? TimeProvider.System;
        try
        {
            Directory.CreateDirectory(logDir);
            var name = string.Create(CultureInfo.InvariantCulture,
                $"events.out.tfevents.{_clock.GetUtcNow().ToUnixTimeSeconds():D10}.{Environment.MachineName}.{Environment.ProcessId}.{Interlocked.Increment(ref _nextId) - 1}");
            FilePath = Path.Combine(logDir, name);
            _records = new TfRecordWriter(new FileStream(FilePath, FileMode.CreateNew, FileAccess.Write, FileShare.Read));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new QwenTuneException($"--logging_dir '{logDir}': cannot write TensorBoard events there ({e.Message}).");
        }
        Write(new Event { FileVersion = FileVersion });
        Flush();
    }

    public string FilePath { get; }

    /// <summary>A point of the scalar series <paramref name="tag"/>; TensorBoard stores it as float32, as add_scalar does.</summary>
    public void AddScalar(string tag, double value, long step) =>
        Write(new Event { Step = step, Summary = new Summary { Value = { new Summary.Types.Value { Tag = tag, SimpleValue = (float)value } } } });

    /// <summary>Text under "{tag}/text_summary" for TensorBoard's text plugin, as add_text does.</summary>
    public void AddText(string tag, string text, long step)
    {
        var value = new Summary.Types.Value
        {
            Tag = tag + "/text_summary",
            Metadata = new SummaryMetadata
            {
                PluginData = new SummaryMetadata.Types.PluginData { PluginName = "text", Content = new TextPluginData().ToByteString() },
            },
            Tensor = new TensorProto
            {
                Dtype = DataType.DtString,
                TensorShape = new TensorShapeProto { Dim = { new TensorShapeProto.Types.Dim { Size = 1 } } },
                StringVal = { ByteString.CopyFromUtf8(text) },
            },
        };
        Write(new Event { Step = step, Summary = new Summary { Value = { value } } });
    }

    public void Flush() => _records.Flush();

    public void Dispose() => _records.Dispose();

    private void Write(Event e)
    {
        e.WallTime = (_clock.GetUtcNow() - DateTimeOffset.UnixEpoch).TotalSeconds;
        _records.Write(e.ToByteArray());
    }
}
