using System.Text.Json;

namespace QwenTune.Bench;

internal static class Program
{
    private static int Main(string[] args)
    {
        // As `qwentune train` runs (QwenTune.Runtime.NativeAllocator); QWENTUNE_ALLOCATOR=system measures without.
        QwenTune.Runtime.NativeAllocator.RestartWithChosenAllocator();
        var benchmarks = typeof(Program).Assembly.GetTypes()
            .Where(t => typeof(IBenchmark).IsAssignableFrom(t) && t is { IsClass: true, IsAbstract: false })
            .Select(t => (IBenchmark)Activator.CreateInstance(t)!)
            .OrderBy(b => b.Name, StringComparer.Ordinal)
            .ToList();
        var chosen = args.Length == 0 ? null : benchmarks.FirstOrDefault(b => b.Name == args[0]);
        if (chosen is null)
        {
            Console.Error.WriteLine("usage: dotnet run --project bench/QwenTune.Bench -c Release -- <benchmark> [args]");
            foreach (var b in benchmarks)
                Console.Error.WriteLine($"  {b.Name,-20} {b.Description}");
            return 2;
        }
        var result = chosen.Run(args.Skip(1).ToList());
        if (result is not null)
            Console.WriteLine(JsonSerializer.Serialize(result, new JsonSerializerOptions { WriteIndented = true }));
        return 0;
    }
}
