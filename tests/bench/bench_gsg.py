#!/usr/bin/python3
"""bench_gsg.py: the PyTorch peer of bench_gsg.c: one SimSiam step and one SimSiam+GSG step
written to docs/algorithm.md §4 (four encoder calls, BN statistics per call, Euclidean distances on raw
detached projections, argmin, the four-case table, mean over rows, no symmetrising), on the cifar
recipe (CIFAR ResNet-18, projector 512-2048-2048, predictor 2048-512-2048).

usage: /usr/bin/python3 bench_gsg.py [--batch 128] [--steps 2] [--threads 2] [--c-gsg IMG_S] [--c-simsiam IMG_S]
Prints one line per method and, given the C numbers, the ratio C / PyTorch."""
import argparse, time, sys

try:
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch_peer import encoder
except ImportError as e:  # the bench reports and skips; it is never a failure
    print(f"bench_gsg.py: skipped: {e}")
    sys.exit(0)


def simsiam_loss(f, h, v):
    z1, z2 = f(v[0]), f(v[1])
    p1, p2 = h(z1), h(z2)
    return -(F.cosine_similarity(p1, z2.detach()).mean() + F.cosine_similarity(p2, z1.detach()).mean()) / 2


def gsg_loss(f, h, v, gen):
    n = v[0].shape[0]
    r = torch.randperm(n, generator=gen)
    a1, a2, b1, b2 = v[0], v[1], v[2][r], v[3][r]
    z = [f(a1), f(a2), f(b1), f(b2)]            # four separate calls: BN statistics per call
    p = [h(x) for x in z]
    t = [x.detach() for x in z]
    d = torch.stack([(t[0] - t[2]).norm(dim=1), (t[0] - t[3]).norm(dim=1),
                     (t[1] - t[2]).norm(dim=1), (t[1] - t[3]).norm(dim=1)], 1)
    k = d.argmin(1)                             # first index on ties
    a_first = (k <= 1).unsqueeze(1)             # k=0,1: pA1->tA2 ; k=2,3: pA2->tA1
    b_first = (k % 2 == 0).unsqueeze(1)         # k=0,2: pB1->tB2 ; k=1,3: pB2->tB1
    src_a = torch.where(a_first, p[0], p[1]); tgt_a = torch.where(a_first, t[1], t[0])
    src_b = torch.where(b_first, p[2], p[3]); tgt_b = torch.where(b_first, t[3], t[2])
    loss = -(F.cosine_similarity(src_a, tgt_a) + F.cosine_similarity(src_b, tgt_b)) / 2
    return loss.mean()


def bench(method, batch, steps, views):
    torch.manual_seed(0)
    f, h = encoder()
    f = f.to(memory_format=torch.channels_last)
    params = list(f.parameters()) + list(h.parameters())
    opt = torch.optim.SGD(params, lr=0.03 * batch / 256, momentum=0.9, weight_decay=5e-4)
    gen = torch.Generator().manual_seed(0)
    v = [torch.randn(batch, 3, 32, 32).contiguous(memory_format=torch.channels_last) for _ in range(views)]
    times = []
    for s in range(steps + 1):              # the first step warms up
        t0 = time.perf_counter()
        loss = gsg_loss(f, h, v, gen) if method == "gsg" else simsiam_loss(f, h, v)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if s > 0: times.append(time.perf_counter() - t0)
    return min(times)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--c-gsg", type=float, default=0)
    ap.add_argument("--c-simsiam", type=float, default=0)
    ap.add_argument("--only", choices=["gsg", "simsiam", "both"], default="both")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"pytorch {torch.__version__} threads {a.threads} batch {a.batch} (cifar recipe, channels_last, fp32)")
    res = {}
    for m in (["simsiam", "gsg"] if a.only == "both" else [a.only]):
        t = bench(m, a.batch, a.steps, 4 if m == "gsg" else 2)
        res[m] = a.batch / t
        print(f"pytorch {'simsiam+gsg' if m == 'gsg' else 'simsiam':12s} step {t:8.3f} s {res[m]:8.1f} img/s")
    for m, c in (("simsiam", a.c_simsiam), ("gsg", a.c_gsg)):
        if c > 0 and m in res:
            print(f"ratio gsg-step / pytorch, {'simsiam+gsg' if m == 'gsg' else 'simsiam'}: {c / res[m]:.2f}")


if __name__ == "__main__":
    main()
