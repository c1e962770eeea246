#!/usr/bin/python3
"""Peer anchor for the parts of a step that QwenTune benchmarks alone, in PyTorch eager on this CPU (2 threads):
  head:  x (T, H) @ W (V, H)^T, float32 cross entropy summed (HF's loss: full logits, upcast), forward + backward
  adamw: torch.optim.AdamW (HF Trainer's optimizer) with gradient clipping to 1.0 on one flat parameter
Prints JSON with the GEMM peak measured in the same process.
usage: torch_eager_parts.py head --tokens T --hidden H [--vocab 151936] [--dtype fp32|bf16]
       torch_eager_parts.py adamw --parameters N [--dtype fp32|bf16]"""
import argparse, json, time, torch, torch.nn.functional as F

p = argparse.ArgumentParser()
p.add_argument("part", choices=["head", "adamw"])
for k, v in dict(tokens=1024, hidden=64, vocab=151936, parameters=32 << 20).items():
    p.add_argument("--" + k, type=int, default=v)
p.add_argument("--dtype", default="fp32")
a = p.parse_args()
torch.manual_seed(0); torch.set_num_threads(2)
dt = torch.bfloat16 if a.dtype == "bf16" else torch.float32

def median_seconds(run, least=3, budget=3.0):
    times, start = [], time.perf_counter()
    while len(times) < least or (time.perf_counter() - start < budget and len(times) < 20):
        t = time.perf_counter(); run(); times.append(time.perf_counter() - t)
    return sorted(times)[len(times) // 2]

def gemm_peak():
    x = torch.randn(2048, 2048); y = torch.randn(2048, 2048)
    for _ in range(2): x @ y
    ts = []
    for _ in range(5):
        t = time.perf_counter(); x @ y; ts.append(time.perf_counter() - t)
    return 2 * 2048 ** 3 / sorted(ts)[2] / 1e9

def peak_rss_mb():
    with open("/proc/self/status") as f:
        return next((int(l.split()[1]) // 1024 for l in f if l.startswith("VmHWM:")), 0)

out = {"peer": f"pytorch {torch.__version__} eager", "part": a.part, "dtype": a.dtype}
if a.part == "head":
    x = (torch.randn(a.tokens, a.hidden) * 0.5).to(dt).requires_grad_()
    w = (torch.randn(a.vocab, a.hidden) * 0.02).to(dt).requires_grad_()
    targets = torch.randint(0, a.vocab, (a.tokens,))
    def step():
        F.cross_entropy((x @ w.t()).float(), targets, reduction="sum").backward()
        x.grad = None; w.grad = None
    seconds = median_seconds(step)
    peak = gemm_peak()
    useful = 6.0 * a.tokens * a.hidden * a.vocab / 1e9
    out.update(tokens=a.tokens, hidden=a.hidden, seconds=round(seconds, 3), gflops=round(useful / seconds, 1),
               gemm_peak_gflops=round(peak, 1), share_of_peak=round(useful / seconds / peak, 3))
else:
    param = torch.nn.Parameter(torch.randn(a.parameters).to(dt))
    opt = torch.optim.AdamW([param], lr=1e-4, betas=(0.9, 0.95), weight_decay=0.01)
    def step():
        param.grad = torch.randn(a.parameters).to(dt)
        t = time.perf_counter()
        torch.nn.utils.clip_grad_norm_([param], 1.0); opt.step()
        return time.perf_counter() - t
    times = [step() for _ in range(5)]
    seconds = sorted(times)[2]
    out.update(parameters=a.parameters, ns_per_parameter=round(seconds * 1e9 / a.parameters, 3), gemm_peak_gflops=round(gemm_peak(), 1))
out["peak_rss_mb"] = peak_rss_mb()
print(json.dumps(out))
