#!/usr/bin/python3
"""Peer anchor: one HF-style eager PyTorch training step of a Qwen2-shaped model on this CPU.
Mirrors transformers' Qwen2 math (RMSNorm fp32, rotate-half RoPE, GQA via repeat, SwiGLU, SDPA-free eager
attention as torch 1.13 lacks SDPA) and HF Trainer's AdamW + clip. Prints JSON.
Copied from the project's shared peers (../shared/peers) so that benchmarks find it in a fresh clone; the one
addition is the resident-memory record (VmRSS after each step, VmHWM at the end), which changes no step.
usage: torch_eager_step.py [--dtype fp32|bf16] [--hidden 512 --layers 4 --heads 8 --kv 2 --inter 1408
                            --vocab 151936 --batch 4 --seq 256 --steps 8 --lora 0]"""
import argparse, json, math, time, torch, torch.nn as nn, torch.nn.functional as F

p = argparse.ArgumentParser()
for k, v in dict(hidden=512, layers=4, heads=8, kv=2, inter=1408, vocab=151936, batch=4, seq=256, steps=8, lora=0).items():
    p.add_argument("--" + k, type=int, default=v)
p.add_argument("--dtype", default="fp32")
a = p.parse_args()
torch.manual_seed(0); torch.set_num_threads(2)
dt = torch.bfloat16 if a.dtype == "bf16" else torch.float32
hd = a.hidden // a.heads

class RMS(nn.Module):
    def __init__(s, n): super().__init__(); s.weight = nn.Parameter(torch.ones(n))
    def forward(s, x):
        h = x.float(); h = h * torch.rsqrt(h.pow(2).mean(-1, keepdim=True) + 1e-6); return s.weight * h.to(x.dtype)

class Lin(nn.Linear):
    def __init__(s, i, o, bias=False, r=0):
        super().__init__(i, o, bias=bias); s.r = r
        if r:
            s.weight.requires_grad_(False)
            if bias: s.bias.requires_grad_(False)
            s.A = nn.Parameter(torch.randn(r, i) * 0.01); s.B = nn.Parameter(torch.zeros(o, r))
    def forward(s, x):
        y = super().forward(x)
        return y + (x @ s.A.t() @ s.B.t()) * 2.0 if s.r else y

def rot(x):
    h = x.shape[-1] // 2; return torch.cat((-x[..., h:], x[..., :h]), -1)

class Layer(nn.Module):
    def __init__(s):
        super().__init__(); r = a.lora
        s.ln1, s.ln2 = RMS(a.hidden), RMS(a.hidden)
        s.q = Lin(a.hidden, a.heads * hd, True, r); s.k = Lin(a.hidden, a.kv * hd, True, r); s.v = Lin(a.hidden, a.kv * hd, True, r)
        s.o = Lin(a.heads * hd, a.hidden, False, r)
        s.g = Lin(a.hidden, a.inter, False, r); s.u = Lin(a.hidden, a.inter, False, r); s.d = Lin(a.inter, a.hidden, False, r)
    def forward(s, x, cos, sin, mask):
        B, T, _ = x.shape
        h = s.ln1(x)
        q = s.q(h).view(B, T, a.heads, hd).transpose(1, 2); k = s.k(h).view(B, T, a.kv, hd).transpose(1, 2)
        v = s.v(h).view(B, T, a.kv, hd).transpose(1, 2)
        q, k = q * cos + rot(q) * sin, k * cos + rot(k) * sin
        rep = a.heads // a.kv; k = k.repeat_interleave(rep, 1); v = v.repeat_interleave(rep, 1)
        w = torch.softmax((q @ k.transpose(2, 3)) / math.sqrt(hd) + mask, -1, dtype=torch.float32).to(q.dtype)
        x = x + s.o((w @ v).transpose(1, 2).reshape(B, T, -1))
        h = s.ln2(x)
        return x + s.d(F.silu(s.g(h)) * s.u(h))

class Model(nn.Module):
    def __init__(s):
        super().__init__(); s.emb = nn.Embedding(a.vocab, a.hidden); nn.init.normal_(s.emb.weight, std=0.02)
        s.layers = nn.ModuleList(Layer() for _ in range(a.layers)); s.norm = RMS(a.hidden)
        if a.lora: s.emb.weight.requires_grad_(False)
    def forward(s, ids):
        T = ids.shape[1]
        inv = 1.0 / (1e6 ** (torch.arange(0, hd, 2).float() / hd)); fr = torch.outer(torch.arange(T).float(), inv)
        e = torch.cat((fr, fr), -1); cos, sin = e.cos().to(dt), e.sin().to(dt)
        mask = torch.full((T, T), float("-inf")).triu(1).to(dt)
        x = s.emb(ids)
        for l in s.layers: x = l(x, cos, sin, mask)
        return s.norm(x) @ s.emb.weight.t()

m = Model().to(dt)
params = [p for p in m.parameters() if p.requires_grad]
opt = torch.optim.AdamW(params, lr=1e-4, weight_decay=0.01)
ids = torch.randint(0, a.vocab, (a.batch, a.seq))
N = sum(p.numel() for p in m.parameters())
times, rss = [], []
def status_mb(key):
    with open("/proc/self/status") as f:
        return next((int(l.split()[1]) // 1024 for l in f if l.startswith(key)), 0)
for i in range(a.steps):
    t = time.perf_counter()
    logits = m(ids)
    loss = F.cross_entropy(logits[:, :-1].float().reshape(-1, a.vocab), ids[:, 1:].reshape(-1))
    loss.backward(); torch.nn.utils.clip_grad_norm_(params, 1.0); opt.step(); opt.zero_grad(set_to_none=True)
    times.append(time.perf_counter() - t)
    rss.append(status_mb("VmRSS:"))
step = sorted(times[2:])[len(times[2:]) // 2]
tok = a.batch * a.seq
def gemm(d):
    x = torch.randn(2048, 2048, dtype=d); y = torch.randn(2048, 2048, dtype=d)
    for _ in range(2): x @ y
    ts = []
    for _ in range(5):
        t = time.perf_counter(); x @ y; ts.append(time.perf_counter() - t)
    return 2 * 2048 ** 3 / sorted(ts)[2] / 1e9
peak = gemm(dt)
flops = (6 if not a.lora else 4) * N * tok
print(json.dumps({"peer": f"pytorch {torch.__version__} eager", "dtype": a.dtype, "lora": a.lora, "params": N, "tokens_per_step": tok,
                  "step_ms": round(step * 1000, 1), "tokens_per_s": round(tok / step, 1),
                  "achieved_gflops": round(flops / step / 1e9, 1), "gemm_peak_gflops": round(peak, 1), "mfu_vs_peak": round(flops / step / 1e9 / peak, 3),
                  "rss_mb_after_step_3": rss[min(2, len(rss) - 1)], "rss_mb_min": min(rss[2:] or rss), "rss_mb_max": max(rss[2:] or rss),
                  "rss_mb_last": rss[-1], "peak_rss_mb": status_mb("VmHWM:")}))
