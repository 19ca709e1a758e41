#!/usr/bin/python3
"""torch_step.py: the PyTorch peer of bench_step.c. One SimSiam training step on a recipe's model
(torch_peer.py: cifar = CIFAR ResNet-18 on 32x32x3 with projector 512-2048-2048 and predictor
2048-512-2048; fmnist = the width-16 ResNet-18 on 28x28x1 with 128-512-512 and 512-128-512), two
views, symmetric negative cosine with stop-gradient, SGD momentum 0.9, weight decay 5e-4, in
PyTorch's best CPU configuration: explicit threads, channels_last. --autocast bf16 wraps forward
and loss in torch.autocast("cpu", dtype=torch.bfloat16), as a PyTorch user asks for bf16.
Run it with GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184
so activations are not unmapped every step (tests/bench/bench.py does).

The FLOP count is the standard one of docs/performance.md §1, counted here independently of
lib/nn: forward hooks on every Conv2d and Linear give one view's multiply-adds M and the stem's S;
a step is 2 views x 2 x (3M - S) flops per image (forward, weight and input gradients, no input
gradient for the stem).

usage: /usr/bin/python3 torch_step.py [--recipe cifar|fmnist] [--autocast bf16] [--batch 256]
                                      [--steps 3] [--warmup 1] [--threads 2] [--plain]
Prints per-step times and a final line
  RESULT side=torch recipe=R precision=P batch=N threads=T img_s=X step_s=Y peak_rss_mb=Z gflop_per_img=G gflops=F
Exit status: 0 ok, 1 failure, 2 usage error, 3 not available here (--autocast bf16 on a CPU
without native bf16), 77 no torch/torchvision (skipped)."""
import argparse
import resource
import sys
import time

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch_peer import RECIPES, encoder
except ImportError as e:
    print(f"torch_step.py: skipped: {e}")
    sys.exit(77)

EXIT_NA = 3


def cpu_native_bf16():
    """'' when the CPU has AVX512_BF16 or AMX-BF16 (/proc/cpuinfo flags), else why not."""
    try:
        with open('/proc/cpuinfo') as f:
            flags = next((l.split(':', 1)[1].split() for l in f if l.startswith('flags')), [])
    except OSError as e:
        return f"cannot read /proc/cpuinfo: {e.strerror}"
    if 'avx512_bf16' in flags or 'amx_bf16' in flags:
        return ''
    return "this CPU has no native bf16 (neither AVX512_BF16 nor AMX-BF16)"


def count_macs(f, pred, x):
    """Multiply-adds per image of one forward through f and pred (every Conv2d and Linear, padding
    taps included), and the first convolution's share."""
    convs, total = [], [0]

    def hook(m, inp, out):
        if isinstance(m, nn.Conv2d):   # per output element: Ci/groups * Kh * Kw
            macs = out[0].numel() * (m.in_channels // m.groups) * m.kernel_size[0] * m.kernel_size[1]
            convs.append(macs)
        else:
            macs = m.in_features * m.out_features
        total[0] += macs

    hs = [m.register_forward_hook(hook) for mod in (f, pred) for m in mod.modules()
          if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        pred(f(x))
    for h in hs:
        h.remove()
    return total[0], convs[0]


def main():
    ap = argparse.ArgumentParser(description='One SimSiam step in PyTorch on a recipe\'s model: images/s, peak '
                                 'RSS, GFLOP/s. Exit 3: --autocast bf16 without native bf16; 77: no torch.')
    ap.add_argument('--recipe', choices=sorted(RECIPES), default='cifar')
    ap.add_argument('--autocast', choices=['bf16'], help='forward and loss under torch.autocast("cpu", bfloat16)')
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--size', type=int, help="input side (default: the recipe's)")
    ap.add_argument('--plain', action='store_true', help='contiguous NCHW instead of channels_last')
    a = ap.parse_args()
    if a.batch < 2 or a.steps < 1 or a.warmup < 0 or a.threads < 1:
        ap.error('--batch >= 2, --steps >= 1, --warmup >= 0, --threads >= 1')
    if a.autocast:
        why = cpu_native_bf16()
        if why:
            print(f"torch_step.py: --autocast bf16: {why}", file=sys.stderr)
            sys.exit(EXIT_NA)
    cin, size, _, _, _, _, mean, std = RECIPES[a.recipe]
    size = a.size or size
    torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    f, pred = encoder(a.recipe)
    fmt = torch.contiguous_format if a.plain else torch.channels_last
    f = f.to(memory_format=fmt)
    opt = torch.optim.SGD(list(f.parameters()) + list(pred.parameters()), lr=0.06, momentum=0.9, weight_decay=5e-4)
    mean = torch.tensor(mean).view(1, cin, 1, 1)
    std = torch.tensor(std).view(1, cin, 1, 1)
    u8 = torch.randint(0, 256, (2, a.batch, cin, size, size), dtype=torch.uint8)
    macs, stem = count_macs(f.eval(), pred.eval(), torch.zeros(2, cin, size, size).contiguous(memory_format=fmt))
    f.train()
    pred.train()
    gflop_img = 2 * 2 * (3 * macs - stem) / 1e9
    prec = 'bf16' if a.autocast else 'fp32'
    print(f"torch_step: SimSiam step, {a.recipe} recipe, {size}x{size}x{cin}, batch {a.batch} x 2 views, "
          f"{prec}{' (autocast)' if a.autocast else ''}, {a.threads} threads, "
          f"{'NCHW' if a.plain else 'channels_last'}, torch {torch.__version__}, {gflop_img:.4f} GFLOP per image")
    total = 0.0
    for s in range(a.warmup + a.steps):
        t0 = time.perf_counter()
        v = [((u8[i].float() / 255 - mean) / std).contiguous(memory_format=fmt) for i in range(2)]
        with torch.autocast('cpu', dtype=torch.bfloat16, enabled=bool(a.autocast)):
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
    img_s = a.batch / step_s
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch_step: {img_s:.2f} images/s ({step_s:.3f} s/step), {img_s * gflop_img:.1f} GFLOP/s at "
          f"{gflop_img:.4f} GFLOP per image, peak RSS {rss:.0f} MiB")
    print(f"RESULT side=torch recipe={a.recipe} precision={prec} batch={a.batch} threads={a.threads} img_s={img_s:.3f} "
          f"step_s={step_s:.4f} peak_rss_mb={rss:.0f} gflop_per_img={gflop_img:.6f} gflops={img_s * gflop_img:.2f}")


if __name__ == '__main__':
    main()
