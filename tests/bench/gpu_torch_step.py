#!/usr/bin/python3
"""gpu_torch_step.py: the PyTorch peer of gpu_bench_step.c on the GPU. The same SimSiam and SimSiam+GSG
(4-view pairing, Euclidean selection) training steps for the cifar recipe (CIFAR ResNet-18, projector
512-2048-2048, predictor 2048-512-2048) and the fmnist recipe (ResNet-18 width 16 on 1x28x28, projector
128-512-512, predictor 512-128-512), SGD momentum 0.9: u8 views uploaded and normalised every step,
channels_last, and one of
    eager      fp32 (no TF32)
    amp        eager with autocast bf16
    compile    torch.compile of the encoder and predictor, autocast bf16
It also measures the card's bf16 GEMM rate (8192^3) and the FLOPs of one step (torch.utils.flop_counter),
so the driver can report TFLOP/s against it.

usage: gpu_torch_step.py --recipe cifar|fmnist --method simsiam|gsg --mode eager|amp|compile
                         [--batch N] [--steps 10] [--warmup 3]
       gpu_torch_step.py --gemm        (the bf16 GEMM rate alone)
Prints RESULT torch recipe=R method=M mode=X batch=N img_s=... step_ms=... flops_per_step=...
Exit status: 0 ok, 1 failure, 77 no torch or no CUDA device (skipped)."""
import argparse
import sys
import time

sys.path.insert(0, __file__.rsplit('/', 1)[0] + '/../lib')
try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch_resnet import Backbone, predictor, projector
except ImportError as e:
    print(f"gpu_torch_step.py: skipped: {e}")
    sys.exit(77)

RECIPES = {
    # in_channels, width, size, proj_hidden, proj_dim, pred_hidden
    'cifar': (3, 64, 32, 2048, 2048, 512),
    'fmnist': (1, 16, 28, 512, 512, 128),
}


class Encoder(nn.Module):
    """backbone (tests/lib/torch_resnet.py's ResNet-18, CIFAR stem) and projector as one module, so
    channels_last and torch.compile apply to the whole encoder."""

    def __init__(self, cin, w, ph, pd):
        super().__init__()
        self.net = Backbone(w, cin)
        self.proj = projector(self.net.feat, ph, pd)

    def forward(self, x):
        return self.proj(self.net.backbone(x))


def model(recipe):
    cin, w, size, ph, pd, qh = RECIPES[recipe]
    return Encoder(cin, w, ph, pd), predictor(pd, qh), cin, size


def neg_cos(p, z):
    return -F.cosine_similarity(p, z.detach(), dim=1, eps=1e-8)


def gsg_loss(p, z):
    """The GSG step's loss from four views' predictions p[v] and projections z[v] (A1 A2 B1 B2):
    k = argmin of the Euclidean distances (A1,B1) (A1,B2) (A2,B1) (A2,B2) (first index on ties);
    k=0: pA1->zA2, pB1->zB2  k=1: pA1->zA2, pB2->zB1  k=2: pA2->zA1, pB1->zB2  k=3: pA2->zA1, pB2->zB1."""
    t = [x.detach().float() for x in z]
    d = torch.stack([(t[0] - t[2]).norm(dim=1), (t[0] - t[3]).norm(dim=1),
                     (t[1] - t[2]).norm(dim=1), (t[1] - t[3]).norm(dim=1)], dim=1)
    k = d.argmin(dim=1)
    ia = (k >= 2).unsqueeze(1)
    ib = (k % 2 == 1).unsqueeze(1)
    sa = torch.where(ia, p[1], p[0])
    ta = torch.where(ia, t[0], t[1])
    sb = torch.where(ib, p[3], p[2])
    tb = torch.where(ib, t[2], t[3])
    return (neg_cos(sa.float(), ta) + neg_cos(sb.float(), tb)).mean() / 2, k


def gemm_tflops():
    n = 8192
    a = torch.randn(n, n, device='cuda', dtype=torch.bfloat16)
    b = torch.randn(n, n, device='cuda', dtype=torch.bfloat16)
    for _ in range(3):
        a @ b
    torch.cuda.synchronize()
    t0, reps = time.perf_counter(), 20
    for _ in range(reps):
        a @ b
    torch.cuda.synchronize()
    return 2 * n ** 3 * reps / (time.perf_counter() - t0) / 1e12


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--recipe', default='cifar', choices=sorted(RECIPES))
    ap.add_argument('--method', default='gsg', choices=['simsiam', 'gsg'])
    ap.add_argument('--mode', default='amp', choices=['eager', 'amp', 'compile'])
    ap.add_argument('--batch', type=int, default=0)
    ap.add_argument('--steps', type=int, default=10)
    ap.add_argument('--warmup', type=int, default=3)
    ap.add_argument('--gemm', action='store_true')
    ap.add_argument('--device', default='cuda', choices=['cuda', 'cpu'], help='cpu: a host check of this script')
    a = ap.parse_args()
    dev = a.device
    if dev == 'cuda' and not torch.cuda.is_available():
        print("gpu_torch_step.py: skipped: torch sees no CUDA device")
        sys.exit(77)
    if a.gemm:
        print(f"RESULT gemm bf16_tflops={gemm_tflops():.1f} device={torch.cuda.get_device_name(0).replace(' ', '_')}")
        return
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    torch.backends.cudnn.benchmark = True
    torch.manual_seed(0)
    N = a.batch or (512 if a.recipe == 'cifar' else 256)
    f, pred, cin, size = model(a.recipe)
    f = f.to(dev).to(memory_format=torch.channels_last)
    pred = pred.to(dev)
    opt = torch.optim.SGD(list(f.parameters()) + list(pred.parameters()), lr=0.05, momentum=0.9, weight_decay=5e-4)
    ff, pp = (torch.compile(f), torch.compile(pred)) if a.mode == 'compile' else (f, pred)
    V = 4 if a.method == 'gsg' else 2
    host = torch.randint(0, 256, (V, N, cin, size, size), dtype=torch.uint8)
    if dev == 'cuda':
        host = host.pin_memory()
    mean = torch.full((1, cin, 1, 1), 0.5, device=dev)
    std = torch.full((1, cin, 1, 1), 0.25, device=dev)
    amp = a.mode in ('amp', 'compile') and dev == 'cuda'
    sync = torch.cuda.synchronize if dev == 'cuda' else (lambda: None)

    def step():
        u8 = host.to(dev, non_blocking=True)
        perm = torch.randperm(N, device=dev)
        x = [((u8[v].float() / 255 - mean) / std).contiguous(memory_format=torch.channels_last) for v in range(V)]
        if V == 4:
            x[2], x[3] = x[2][perm], x[3][perm]
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev, dtype=torch.bfloat16, enabled=amp):
            z = [ff(xv) for xv in x]   # one encoder call per view: BN statistics per call
            p = [pp(zv) for zv in z]
            if V == 2:
                loss = (neg_cos(p[0].float(), z[1].float()).mean() + neg_cos(p[1].float(), z[0].float()).mean()) / 2
            else:
                loss, _ = gsg_loss([q.float() for q in p], z)
        loss.backward()
        opt.step()
        return loss

    flops = 0
    try:
        from torch.utils.flop_counter import FlopCounterMode
        if a.mode != 'compile':
            with FlopCounterMode(display=False) as fc:
                step()
            flops = fc.get_total_flops()
    except Exception as e:   # counting is a report extra, never a failure
        print(f"gpu_torch_step.py: flop count unavailable: {e}")
    t_first = time.perf_counter()
    for _ in range(a.warmup):
        step()
    sync()
    warm_s = time.perf_counter() - t_first
    times = []
    for _ in range(a.steps):
        t0 = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t0)
    step_s = sum(times) / len(times)
    name = torch.cuda.get_device_name(0) if dev == 'cuda' else 'cpu (host check)'
    print(f"gpu_torch_step: torch {torch.__version__}, cuDNN {torch.backends.cudnn.version()}, "
          f"{name}; {a.method} {a.recipe} batch {N} x {V} views, {a.mode}; "
          f"warm-up {warm_s:.1f} s")
    print(f"RESULT torch recipe={a.recipe} method={a.method} mode={a.mode} batch={N} img_s={N / step_s:.2f} "
          f"step_ms={1e3 * step_s:.3f} best_ms={1e3 * min(times):.3f} flops_per_step={flops}")


if __name__ == '__main__':
    main()
