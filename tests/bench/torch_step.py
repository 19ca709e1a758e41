#!/usr/bin/python3
"""torch_step.py: the PyTorch peer of bench_step.c. One SimSiam training step on the cifar
recipe (CIFAR ResNet-18: 3x3 stem, no max-pool; projector 512-2048-2048 ending in affine-free
BN; predictor 2048-512-2048), two views, symmetric negative cosine with stop-gradient, SGD
momentum 0.9, weight decay 5e-4, in PyTorch's best CPU configuration: 2 threads, channels_last.
Run it with GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184
so activations are not unmapped every step (tests/bench/bench.mk does).

usage: /usr/bin/python3 torch_step.py [--batch 256] [--steps 3] [--warmup 1] [--threads 2] [--plain]
Prints per-step times and a final line: RESULT torch_img_s=X step_s=Y peak_rss_mb=Z"""
import argparse
import resource
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch_peer import encoder
except ImportError as e:
    print(f"torch_step.py: skipped: {e}")
    sys.exit(77)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--size', type=int, default=32)
    ap.add_argument('--plain', action='store_true', help='contiguous NCHW instead of channels_last')
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    f, pred = encoder()
    fmt = torch.contiguous_format if a.plain else torch.channels_last
    f = f.to(memory_format=fmt)
    opt = torch.optim.SGD(list(f.parameters()) + list(pred.parameters()), lr=0.06, momentum=0.9, weight_decay=5e-4)
    mean = torch.tensor([0.4914, 0.4822, 0.4465]).view(1, 3, 1, 1)
    std = torch.tensor([0.247, 0.243, 0.261]).view(1, 3, 1, 1)
    u8 = torch.randint(0, 256, (2, a.batch, 3, a.size, a.size), dtype=torch.uint8)
    print(f"torch_step: SimSiam step, cifar recipe, batch {a.batch} x 2 views, {a.threads} threads, "
          f"{'NCHW' if a.plain else 'channels_last'}, torch {torch.__version__}")
    total = 0.0
    for s in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        v = [((u8[i].float() / 255 - mean) / std).contiguous(memory_format=fmt) for i in range(2)]
        z1, z2 = f(v[0]), f(v[1])
        p1, p2 = pred(z1), pred(z2)
        loss = -(F.cosine_similarity(p1, z2.detach()).mean() + F.cosine_similarity(p2, z1.detach()).mean()) / 2
        opt.zero_grad(set_to_none=False)
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        print(f"  step {s}{' (warm-up)' if s < a.warmup else ''}: {dt:.3f} s, loss {loss.item():.4f}", flush=True)
        if s >= a.warmup:
            total += dt
    step_s = total / a.steps
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch_step: {a.batch / step_s:.2f} images/s ({step_s:.3f} s/step), peak RSS {rss:.0f} MiB")
    print(f"RESULT torch_img_s={a.batch / step_s:.3f} step_s={step_s:.4f} peak_rss_mb={rss:.0f}")


if __name__ == '__main__':
    main()
