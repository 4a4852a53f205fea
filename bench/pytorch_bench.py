#!/usr/bin/python3
"""PyTorch (CPU) timings of DINO-Tracker's workloads, to compare with `dinotracker bench`.

Each workload runs in its own child process (so that each has its own peak RSS), with random weights,
at the sizes the Go command uses:

  sgemm        2048x2048x2048 torch.mm
  vit-s        DINOv2 ViT-S/14, 12 blocks, one 476x854 frame at patch stride 7 (67x121 tokens + CLS)
  vit-l        DINOv2 ViT-L/14, blocks 0-15 (the tracker's features), same frame
  delta-train  Delta-DINO 3->64->128->256->1024 forward+backward on 8 frames, BatchNorm in training
               mode, aligned to the 67x121 token grid (grid_sample)
  delta-eval   the same forward in eval mode under torch.inference_mode()
  head         the tracker head per query and frame, 256 queries at once against 8 frames of cached
               67x121x1024 features: cosine cost volume (ReLU) -> normalised 2-conv refiner ->
               softmax -> windowed soft-argmax around the cost volume's argmax

The models are plain torch modules written here in DINOv2's and DINO-Tracker's layout (no downloads,
no timm, no xformers: DINOv2 then uses its plain attention, which materialises the heads x T x T
score matrix). FLOP counts use the same formulas as the Go command (examples/dinotracker/benchcmd.go).

  /usr/bin/python3 bench/pytorch_bench.py                 # all workloads, glibc malloc defaults
  /usr/bin/python3 bench/pytorch_bench.py --reuse         # children keep freed memory (no mmap, no trim)
  /usr/bin/python3 bench/pytorch_bench.py --only vit-s --repeat 3 --json out.json
  python3 bench/pytorch_bench.py --device cuda --only sgemm,head --repeat 5   # on a GPU machine

With --device cuda, sgemm and head run on the GPU (one untimed warm-up run first, torch.cuda.synchronize
before each clock read), to set beside `go test -tags cuda -bench . ./cuda/` on the same machine.

Needs Debian's python3-torch (apt-get install python3-torch); nothing else in the project uses Python.
"""

import argparse
import json
import os
import resource
import subprocess
import sys
import time

WORKLOADS = ["sgemm", "vit-s", "vit-l", "delta-train", "delta-eval", "head"]

REAL = dict(H=476, W=854, C=1024, gemm=2048, vit_s_depth=12, vit_l_depth=16, queries=256, head_frames=8)
SMALL = dict(H=56, W=98, C=1024, gemm=192, vit_s_depth=2, vit_l_depth=2, queries=16, head_frames=2)


# ---- FLOP counts (as benchcmd.go) ----

def vit_flop(dim, depth, npatch):
    d, t = float(dim), float(npatch + 1)
    return 2 * npatch * 3 * 14 * 14 * d + depth * (2 * t * 12 * d * d + 4 * t * t * d)


def delta_conv_flop(h, w):
    ch = [3, 64, 128, 256, 1024]
    f = []
    for i in range(4):
        f.append(2.0 * ch[i] * ch[i + 1] * 25 * h * w)
        if i < 3:
            h, w = (h - 1) // 2 + 1, (w - 1) // 2 + 1  # BlurPool: reflect pad [1,2,1,2], 4x4, stride 2
    return f


def head_flop(c, p):
    return 2.0 * c * p + 2 * 2 * 16 * 9 * p


# ---- models ----

def build_models(torch):
    nn = torch.nn
    F = torch.nn.functional

    class Attention(nn.Module):  # dinov2/layers/attention.py Attention
        def __init__(self, dim, heads):
            super().__init__()
            self.num_heads = heads
            self.scale = (dim // heads) ** -0.5
            self.qkv = nn.Linear(dim, 3 * dim)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            B, N, C = x.shape
            qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, C // self.num_heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv[0] * self.scale, qkv[1], qkv[2]
            attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
            x = (attn @ v).transpose(1, 2).reshape(B, N, C)
            return self.proj(x)

    class LayerScale(nn.Module):
        def __init__(self, dim):
            super().__init__()
            self.gamma = nn.Parameter(torch.full((dim,), 0.5))

        def forward(self, x):
            return x * self.gamma

    class Mlp(nn.Module):
        def __init__(self, dim, hidden):
            super().__init__()
            self.fc1 = nn.Linear(dim, hidden)
            self.act = nn.GELU()
            self.fc2 = nn.Linear(hidden, dim)

        def forward(self, x):
            return self.fc2(self.act(self.fc1(x)))

    class Block(nn.Module):
        def __init__(self, dim, heads):
            super().__init__()
            self.norm1 = nn.LayerNorm(dim, eps=1e-6)
            self.attn = Attention(dim, heads)
            self.ls1 = LayerScale(dim)
            self.norm2 = nn.LayerNorm(dim, eps=1e-6)
            self.mlp = Mlp(dim, 4 * dim)
            self.ls2 = LayerScale(dim)

        def forward(self, x):
            x = x + self.ls1(self.attn(self.norm1(x)))
            return x + self.ls2(self.mlp(self.norm2(x)))

    class ViT(nn.Module):  # dinov2/models/vision_transformer.py, patch stride 7 as DINO-Tracker sets it
        def __init__(self, dim, depth, heads, stride=7):
            super().__init__()
            self.patch_embed = nn.Conv2d(3, dim, 14, stride=stride)
            self.cls_token = nn.Parameter(torch.randn(1, 1, dim))
            self.pos_embed = nn.Parameter(torch.randn(1, 1 + 37 * 37, dim) * 0.02)
            self.blocks = nn.ModuleList([Block(dim, heads) for _ in range(depth)])

        def forward(self, img):
            x = self.patch_embed(img)
            gh, gw = x.shape[-2:]
            x = x.flatten(2).transpose(1, 2)
            x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
            d = x.shape[-1]
            grid = self.pos_embed[:, 1:].reshape(1, 37, 37, d).permute(0, 3, 1, 2)
            grid = F.interpolate(grid, size=(gh, gw), mode="bicubic", align_corners=False)
            pos = torch.cat([self.pos_embed[:, :1], grid.permute(0, 2, 3, 1).reshape(1, gh * gw, d)], dim=1)
            x = x + pos
            for b in self.blocks:
                x = b(x)
            return x

    class BlurPool(nn.Module):  # antialiased_cnns.BlurPool(c, stride=2), filt_size 4, reflect
        def __init__(self, c):
            super().__init__()
            a = torch.tensor([1.0, 3.0, 3.0, 1.0])
            f = a[:, None] * a[None, :]
            self.register_buffer("filt", (f / f.sum())[None, None].repeat(c, 1, 1, 1))
            self.pad = nn.ReflectionPad2d([1, 2, 1, 2])
            self.c = c

        def forward(self, x):
            return F.conv2d(self.pad(x), self.filt, stride=2, groups=self.c)

    class DeltaDINO(nn.Module):  # DINO-Tracker models/networks/delta_dino.py + align_cnn_vit_features
        def __init__(self):
            super().__init__()
            ch = [3, 64, 128, 256, 1024]
            layers = []
            for i in range(4):
                dil = 2 if i == 3 else 1
                layers += [nn.Conv2d(ch[i], ch[i + 1], 5, padding=2 * dil, dilation=dil, padding_mode="reflect"),
                           nn.BatchNorm2d(ch[i + 1])]
                if i < 3:
                    layers += [nn.ReLU(), BlurPool(ch[i + 1])]
            self.layers = nn.Sequential(*layers)

        def forward(self, x):
            n, _, h, w = x.shape
            y = self.layers(x)
            h8, w8 = y.shape[-2:]
            gh, gw = (h - 14) // 7 + 1, (w - 14) // 7 + 1
            bry, brx = (h8 - 1) * 8.0, (w8 - 1) * 8.0
            py = torch.arange(gh, dtype=torch.float32) * 7 + 7
            px = torch.arange(gw, dtype=torch.float32) * 7 + 7
            gy = (-1 - 1 / bry) + 2 * py / bry
            gx = (-1 - 1 / brx) + 2 * px / brx
            grid = torch.stack(torch.meshgrid(gx, gy, indexing="xy"), dim=-1)[None].expand(n, gh, gw, 2)
            return F.grid_sample(y, grid, mode="bilinear", padding_mode="border", align_corners=True)

    return ViT, DeltaDINO


# ---- workloads (child side) ----

CPU_RUNS = []  # CPU seconds (user + system, all threads) of each timed run


def timed(repeat, fn, sync=None):
    runs = []
    if sync is not None:  # GPU: one warm-up run (library initialisation, kernel loading)
        fn()
        sync()
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        if sync is not None:
            sync()
        runs.append(time.perf_counter() - t0)
        CPU_RUNS.append(time.process_time() - c0)
    return runs


def run_workload(name, frames, repeat, sz, torch):
    F = torch.nn.functional
    ViT, DeltaDINO = build_models(torch)
    H, W = sz["H"], sz["W"]
    gh, gw = (H - 14) // 7 + 1, (W - 14) // 7 + 1
    dev = sz.get("device", "cpu")
    sync = torch.cuda.synchronize if dev == "cuda" else None
    if dev != "cpu" and name not in ("sgemm", "head"):
        raise SystemExit(f"workload {name} runs on the CPU only")
    if name == "sgemm":
        n = sz["gemm"] * (4 if dev == "cuda" else 1)
        a, b = torch.randn(n, n, device=dev), torch.randn(n, n, device=dev)
        runs = timed(max(repeat, 3), lambda: torch.mm(a, b), sync)
        return dict(what=f"SGEMM {n}^3 torch.mm on {dev}", runs=runs, flop=2.0 * n ** 3)
    if name in ("vit-s", "vit-l"):
        dim, heads, depth = (384, 6, sz["vit_s_depth"]) if name == "vit-s" else (1024, 16, sz["vit_l_depth"])
        m = ViT(dim, depth, heads).eval()
        img = torch.randn(1, 3, H, W)

        def fwd():
            with torch.inference_mode():
                m(img)
        runs = timed(repeat, fwd)
        return dict(what=f"ViT dim {dim} blocks 0-{depth - 1}, one {H}x{W} frame at stride 7 ({gh}x{gw} tokens + CLS)",
                    runs=runs, flop=vit_flop(dim, depth, gh * gw))
    if name in ("delta-train", "delta-eval"):
        m = DeltaDINO()
        x = torch.rand(frames, 3, H, W)
        f = delta_conv_flop(H, W)
        if name == "delta-train":
            m.train()
            dout = torch.randn(frames, 1024, gh, gw) * 1e-3

            def step():
                m.zero_grad(set_to_none=True)
                m(x).backward(dout)
            runs = timed(repeat, step)
            return dict(what=f"Delta-DINO fwd+bwd, BN training mode, {frames} frames of {H}x{W}, aligned to {gh}x{gw}",
                        runs=runs, flop=frames * (3 * sum(f) - f[0]))
        m.eval()

        def ev():
            with torch.inference_mode():
                m(x)
        runs = timed(repeat, ev)
        return dict(what=f"Delta-DINO forward, eval mode, {frames} frames of {H}x{W}, aligned to {gh}x{gw}",
                    runs=runs, flop=frames * sum(f))
    if name == "head":
        C, P, Q, NF = sz["C"], gh * gw, sz["queries"], sz["head_frames"]
        feats = torch.randn(NF, C, P, device=dev)
        norms = feats.norm(dim=1)  # cached with the features
        tok = torch.randint(0, P, (Q,), device=dev)
        q = feats[0][:, tok].t().contiguous()
        w0, b0 = torch.rand(16, 1, 3, 3, device=dev) - 0.5, torch.rand(16, device=dev) - 0.5
        w2, b2 = torch.rand(1, 16, 3, 3, device=dev) - 0.5, torch.rand(1, device=dev) - 0.5
        ys, xs = torch.meshgrid(torch.arange(gh, device=dev) * 7.0 + 7, torch.arange(gw, device=dev) * 7.0 + 7,
                                indexing="ij")
        cx, cy = xs.reshape(-1), ys.reshape(-1)

        def track():
            with torch.inference_mode():
                qn = q.norm(dim=1)
                w0n = w0 / w0.sum(dim=(2, 3), keepdim=True)  # NormalizedConv2d
                w2n = w2 / w2.sum(dim=(2, 3), keepdim=True)
                for f in range(NF):
                    s = torch.relu((q @ feats[f]) / torch.clamp(qn[:, None] * norms[f][None, :], min=1e-8))
                    arg = s.argmax(dim=1)
                    hdn = torch.relu(F.conv2d(s.view(Q, 1, gh, gw), w0n, b0, padding=1))
                    logits = F.conv2d(hdn, w2n, b2, padding=1).view(Q, P)
                    prob = logits.softmax(dim=1)
                    ax, ay = cx[arg], cy[arg]
                    win = ((cx[None] - ax[:, None]) ** 2 + (cy[None] - ay[:, None]) ** 2) <= 35.0 ** 2
                    pw = prob * win
                    mass = pw.sum(dim=1)
                    (pw * cx).sum(dim=1) / mass, (pw * cy).sum(dim=1) / mass
        runs = [t / (Q * NF) for t in timed(repeat, track, sync)]
        return dict(what=f"tracking head on {dev}, {Q} queries at once x {NF} frames, {gh}x{gw}x{C} cached features",
                    unit="query*frame", per=Q * NF, runs=runs, flop=head_flop(C, P))
    raise SystemExit(f"unknown workload {name}")


def median(v):
    s = sorted(v)
    k = len(s)
    return s[k // 2] if k % 2 else (s[k // 2 - 1] + s[k // 2]) / 2


def child(args):
    import torch
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    sz = dict(SMALL if args.small else REAL, device=args.device)
    r = run_workload(args.child, args.frames, args.repeat, sz, torch)
    if r.get("unit") == "query*frame":
        per = r.pop("per")
        CPU_RUNS[:] = [c / per for c in CPU_RUNS]
    r["cpu_runs"] = list(CPU_RUNS)
    r["seconds"], r["cpu_seconds"] = median(r["runs"]), median(CPU_RUNS)
    r["gflops"] = r["flop"] / r["seconds"] / 1e9
    r["peak_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    r["name"] = args.child
    r.setdefault("unit", "run")
    r["torch"] = torch.__version__
    r["threads"] = torch.get_num_threads()
    print(json.dumps(r), flush=True)


def loadavg():
    try:
        with open("/proc/loadavg") as f:
            return " ".join(f.read().split()[:3])
    except OSError:
        return "?"


def sec(v):
    return f"{v:.3f}" if v >= 0.01 else f"{v:.3g}"


def fmt_bytes(b):
    return f"{b / 2**30:.2f} GB" if b >= 2**30 else f"{b / 2**20:.0f} MB"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", default="", help="comma-separated workloads (default: all): " + ",".join(WORKLOADS))
    ap.add_argument("--frames", type=int, default=8, help="frames through Delta-DINO (default 8)")
    ap.add_argument("--repeat", type=int, default=1, help="timed runs per workload; the median is reported")
    ap.add_argument("--threads", type=int, default=2, help="torch.set_num_threads and OMP_NUM_THREADS (default 2)")
    ap.add_argument("--reuse", action="store_true",
                    help="children run with MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=100000000000: glibc keeps freed memory")
    ap.add_argument("--timeout", type=float, default=600, help="seconds before a workload is given up (default 600)")
    ap.add_argument("--json", help="also write the results to this JSON file")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                    help="where sgemm and head run (default cpu; cuda needs a GPU build of PyTorch)")
    ap.add_argument("--small", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    names = [n.strip() for n in args.only.split(",") if n.strip()] or WORKLOADS
    for n in names:
        if n not in WORKLOADS:
            ap.error(f"unknown workload {n!r}; known: {','.join(WORKLOADS)}")
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads))
    if args.reuse:
        env.update(MALLOC_MMAP_MAX_="0", MALLOC_TRIM_THRESHOLD_="100000000000")
    report = dict(command=" ".join(sys.argv), reuse=args.reuse, threads=args.threads, load_before=loadavg(), results=[])
    print(f"pytorch_bench: {args.threads} threads, reuse={args.reuse}, load average before: {report['load_before']}", flush=True)
    print(f"{'workload':<13} {'seconds':>10} {'CPU s':>10} {'GFLOP':>10} {'GFLOP/s':>9} {'peak RSS':>10}  what", flush=True)
    for n in names:
        cmd = [sys.executable, os.path.abspath(__file__), "--child", n, "--frames", str(args.frames),
               "--repeat", str(args.repeat), "--threads", str(args.threads), "--device", args.device] + \
            (["--small"] if args.small else [])
        t0 = time.perf_counter()
        try:
            p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, timeout=args.timeout)
        except subprocess.TimeoutExpired:
            r = dict(name=n, skipped=f"did not finish within {args.timeout:.0f} s (killed)")
        else:
            lines = [l for l in p.stdout.splitlines() if l.startswith("{")]
            if p.returncode != 0 or not lines:
                r = dict(name=n, skipped=f"child exited with status {p.returncode}")
            else:
                r = json.loads(lines[-1])
        r["wall_seconds"] = time.perf_counter() - t0
        report["results"].append(r)
        if "skipped" in r:
            print(f"{n:<13} {'-':>10} {'-':>10} {'-':>10} {'-':>9} {'-':>10}  {r['skipped']}", flush=True)
            continue
        what = r["what"] if r["unit"] == "run" else f"per {r['unit']}: {r['what']}"
        print(f"{n:<13} {sec(r['seconds']):>10} {sec(r['cpu_seconds']):>10} {r['flop'] / 1e9:>10.4g} {r['gflops']:>9.1f} {fmt_bytes(r['peak_rss_bytes']):>10}  {what}",
              flush=True)
    report["load_after"] = loadavg()
    print(f"load average after: {report['load_after']}", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
