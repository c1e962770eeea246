#!/usr/bin/env bash
# Packs the qwentune .NET tool, installs it into a temporary --tool-path from that local feed, and runs it from there:
# --help, then `init` and one `train` step on a tiny model. Checks the package stays under NuGet.org's 250 MB limit and
# that its libLibTorchSharp.so carries the GLIBCXX_3.4.32 patch (build/LibTorchSharpGlibcxx.targets).
# It takes minutes (the package holds libtorch), so it is a script here and not part of the test suite.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "check-tool-package: $*" >&2; exit 1; }

dotnet pack "$root/src/QwenTune.Cli/QwenTune.Cli.csproj" -c Release -o "$work/feed" -nologo -v quiet
package="$(ls "$work"/feed/QwenTune.Cli.*.nupkg)"
bytes=$(stat -c %s "$package")
echo "package: $(basename "$package"), $((bytes / 1000000)) MB (NuGet.org accepts up to 250 MB)"
(( bytes < 250 * 1000 * 1000 )) || fail "the package is over NuGet.org's 250 MB limit"

unzip -q -o "$package" 'tools/*/any/runtimes/linux-x64/native/libLibTorchSharp.so' -d "$work/unpacked"
if command -v readelf >/dev/null; then
    versions="$(readelf -V "$work"/unpacked/tools/*/any/runtimes/linux-x64/native/libLibTorchSharp.so)"
    grep -q 'GLIBCXX_3.4.32  Flags: WEAK' <<<"$versions" || fail "the packaged libLibTorchSharp.so still needs GLIBCXX_3.4.32 (not marked weak)"
    echo "packaged libLibTorchSharp.so: GLIBCXX_3.4.32 marked weak"
fi

version="$(basename "$package" .nupkg)"; version="${version#QwenTune.Cli.}"
dotnet tool install --tool-path "$work/tool" --add-source "$work/feed" QwenTune.Cli --version "$version" >/dev/null
tool="$work/tool/qwentune"
"$tool" --help | grep -q '^  train ' || fail "qwentune --help does not list train"
"$tool" init --config "$root/examples/tiny-qwen2.5/config.json" --tokenizer "$root/examples/tiny-qwen2.5" \
    --output_dir "$work/model" --torch_dtype float32 --seed 42 >/dev/null
head -n 4 "$root/examples/data/train.jsonl" > "$work/train.jsonl"
"$tool" train --model_name_or_path "$work/model" --data_path "$work/train.jsonl" --output_dir "$work/out" --max_steps 1 \
    --save_strategy no --logging_steps 1 --model_max_length 64 --device cpu --disable_tqdm True > "$work/train.log" 2>&1 \
    || { cat "$work/train.log" >&2; fail "qwentune train from the installed tool failed"; }
[[ -f "$work/out/model.safetensors" ]] || fail "train wrote no model.safetensors"
echo "installed tool: --help, init and a 1-step train ran from $work/tool"
echo "check-tool-package: OK"
