#!/usr/bin/python3
"""bench_ops_torch.py: PyTorch's times for the list of tests/bench/bench_ops.c (batch norm, ReLU,
add, pools, linear, cosine) on the same shapes, channels_last, best of --reps after a warm-up.
Usage: /usr/bin/python3 tests/bench/bench_ops_torch.py [--reps N] [--threads T]"""
import argparse, sys, time
try:
    import torch
    import torch.nn.functional as F
except ImportError:
    print("bench_ops_torch: torch is not installed for /usr/bin/python3: skipped")
    sys.exit(0)

ap = argparse.ArgumentParser()
ap.add_argument("--reps", type=int, default=20)
ap.add_argument("--threads", type=int, default=2)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.set_grad_enabled(False)
print(f"bench_ops_torch: torch {torch.__version__}, {torch.get_num_threads()} threads, best of {a.reps}")

def best(fn):
    fn()
    b = 1e30
    for _ in range(a.reps):
        t = time.perf_counter(); fn(); b = min(b, time.perf_counter() - t)
    return b

def line(label, shape, t, nbytes, flops=0):
    s = f"{label:<34} {shape:<18} {t*1e3:9.3f} ms {nbytes/t/1e9:8.1f} GB/s"
    if flops: s += f" {flops/t/1e9:7.1f} GFLOP/s"
    print(s, flush=True)

cl = torch.channels_last
for (N, H, W, C) in [(128, 32, 32, 64), (128, 16, 16, 128), (128, 8, 8, 256), (128, 4, 4, 512), (1, 1, 256, 2048)]:
    if N == 1:   # BN1d on [256, 2048]
        x = torch.randn(W, C); dy = torch.randn(W, C); shp = f"[{W},{C}]"
    else:
        x = torch.randn(N, C, H, W).to(memory_format=cl); dy = torch.randn(N, C, H, W).to(memory_format=cl)
        shp = f"[{N},{H},{W},{C}]"
    g = torch.ones(C); b = torch.zeros(C); rm = torch.zeros(C); rv = torch.ones(C)
    nb = x.numel() * 4
    line("batchnorm fwd (train)", shp, best(lambda: F.batch_norm(x, rm, rv, g, b, True, 0.1, 1e-5)), 2 * nb)
    line("batchnorm fwd (eval)", shp, best(lambda: F.batch_norm(x, rm, rv, g, b, False, 0.1, 1e-5)), 2 * nb)
    _, sm, si = torch.ops.aten.native_batch_norm(x, g, b, rm, rv, True, 0.1, 1e-5)
    line("batchnorm bwd", shp, best(lambda: torch.ops.aten.native_batch_norm_backward(
        dy, x, g, rm, rv, sm, si, True, 1e-5, [True, True, True])), 3 * nb)
    line("relu fwd", shp, best(lambda: torch.relu(x)), 2 * nb)
    y = torch.relu(x)
    line("relu bwd", shp, best(lambda: torch.ops.aten.threshold_backward(dy, y, 0)), 3 * nb)
    x2 = x.clone()
    line("add_inplace", shp, best(lambda: x2.add_(x)), 3 * nb)

x = torch.randn(32, 64, 112, 112).to(memory_format=cl)
nx = x.numel() * 4
line("maxpool 3x3/2 fwd", "[32,112,112,64]", best(lambda: F.max_pool2d(x, 3, 2, 1, return_indices=True)), 1.5 * nx)
a4 = torch.randn(128, 512, 4, 4).to(memory_format=cl)
line("avgpool fwd", "[128,4,4,512]", best(lambda: F.adaptive_avg_pool2d(a4, 1)), a4.numel() * 4)
for In, Out in [(512, 2048), (2048, 2048)]:
    N = 256
    xx = torch.randn(N, In); w = torch.randn(Out, In); dyy = torch.randn(N, Out)
    fl = 2.0 * N * In * Out
    nb = 4.0 * (N * In + In * Out + N * Out)
    line("linear fwd", f"[{N},{In}]x[{Out},{In}]", best(lambda: F.linear(xx, w)), nb, fl)
    line("linear bwd (dx, dw)", f"[{N},{In}]x[{Out},{In}]", best(lambda: (dyy @ w, dyy.t() @ xx)), nb + 4 * In * Out, 2 * fl)
p = torch.randn(256, 2048); q = torch.randn(256, 2048)
line("cosine fwd", "[256,2048]", best(lambda: F.cosine_similarity(p, q, dim=1)), 2 * p.numel() * 4)
line("l2norm fwd", "[256,2048]", best(lambda: F.normalize(p, dim=1)), 2 * p.numel() * 4)
