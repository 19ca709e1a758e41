#!/usr/bin/python3
"""torch_ablation.py: an independent PyTorch run of the no-predictor ablation (issue 5).

SimSiam and SimSiam+GSG (docs/algorithm.md §4), both with the predictor replaced by the identity (or with
the fmnist recipe's predictor, --predictor), on the first --images Fashion-MNIST training images;
per epoch the mean loss, the effective rank of the projections z and of the backbone features
(exp of the entropy of the normalised singular values, one batch) and at the end a weighted k-NN
(k=200, T=0.1) on --bank training images / --test test images. Written from docs/algorithm.md, not from
gsg's C code: it answers "is a collapse that gsg-step does not show a budget question or an
engine question". Runs on CUDA when present (the lent GPU), else on the CPU.

Model: the fmnist recipe (CIFAR-style ResNet-18, 3x3 stem, no max-pool, base width --width,
projector F->P->P: Linear no-bias, BN, ReLU, Linear no-bias, BN without affine); augmentation:
RandomResizedCrop(28, 0.2-1, 3/4-4/3) by affine grids, flip 0.5, brightness/contrast 0.4 with p 0.8.
"""
import argparse, gzip, json, math, os, sys, time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))
from torch_resnet import Backbone, predictor, projector  # noqa: E402


def idx_images(path, n):
    with gzip.open(path) as f:
        f.read(16)
        return np.frombuffer(f.read(n * 784), np.uint8).reshape(n, 1, 28, 28)


def idx_labels(path, n):
    with gzip.open(path) as f:
        f.read(8)
        return np.frombuffer(f.read(n), np.uint8).astype(np.int64)


class Encoder(Backbone):
    def __init__(self, width, proj):
        super().__init__(width, 1)
        self.proj = projector(self.feat, proj, proj)

    def forward(self, x):
        h = self.backbone(x)
        return h, self.proj(h)


def augment(x, gen):
    """x: float [N,1,28,28] in [0,1] on the device -> one random view each."""
    n, dev = x.shape[0], x.device
    u = lambda *s: torch.rand(*s, generator=gen, device=dev)
    area = 0.2 + 0.8 * u(n)
    logr = math.log(3 / 4) + (math.log(4 / 3) - math.log(3 / 4)) * u(n)
    ratio = torch.exp(logr)
    sw = torch.sqrt(area * ratio).clamp(max=1.0)   # crop width / image width
    sh = torch.sqrt(area / ratio).clamp(max=1.0)
    cx = (1 - sw) * (2 * u(n) - 1)                 # crop centre in [-1+sw, 1-sw]
    cy = (1 - sh) * (2 * u(n) - 1)
    flip = torch.where(u(n) < 0.5, -1.0, 1.0)
    theta = torch.zeros(n, 2, 3, device=dev)
    theta[:, 0, 0] = sw * flip
    theta[:, 0, 2] = cx
    theta[:, 1, 1] = sh
    theta[:, 1, 2] = cy
    grid = F.affine_grid(theta, (n, 1, 28, 28), align_corners=False)
    v = F.grid_sample(x, grid, mode='bilinear', padding_mode='border', align_corners=False)
    jit = (u(n) < 0.8).float().view(n, 1, 1, 1)
    b = 1 + jit * (0.8 * u(n).view(n, 1, 1, 1) - 0.4)
    c = 1 + jit * (0.8 * u(n).view(n, 1, 1, 1) - 0.4)
    v = (v * b).clamp(0, 1)
    m = v.mean((1, 2, 3), keepdim=True)
    v = ((v - m) * c + m).clamp(0, 1)
    return (v - 0.2860) / 0.3530


def erank(x):
    s = torch.linalg.svdvals(x.double())
    p = s / s.sum()
    p = p[p > 0]
    return float(torch.exp(-(p * p.log()).sum()))


def knn(bank, bl, query, ql, k=200, T=0.1, classes=10):
    bank, query = F.normalize(bank, dim=1), F.normalize(query, dim=1)
    correct = 0
    for i in range(0, query.shape[0], 1024):
        s = query[i:i + 1024] @ bank.T
        sv, si = s.topk(min(k, bank.shape[0]), dim=1)
        w = torch.exp(sv / T)
        score = torch.zeros(s.shape[0], classes, device=s.device).scatter_add_(1, bl[si], w)
        correct += int((score.argmax(1) == ql[i:i + 1024]).sum())
    return correct / query.shape[0]


def cos_loss(p, t):
    return -F.cosine_similarity(p, t.detach(), dim=1, eps=1e-8)


def run(method, a, x, tr, trl, te, tel, dev):
    torch.manual_seed(a.seed)
    gen = torch.Generator(device=dev)
    gen.manual_seed(a.seed + 1)
    enc = Encoder(a.width, a.proj).to(dev)
    if a.init == 'torchvision':      # torchvision's ResNet init (gsg's): conv kaiming_normal, fan_out
        for mod in enc.modules():
            if isinstance(mod, nn.Conv2d):
                nn.init.kaiming_normal_(mod.weight, mode='fan_out', nonlinearity='relu')
    pred = predictor(a.proj, a.pred).to(dev) if a.predictor else nn.Identity()
    params = list(enc.parameters()) + list(pred.parameters())
    opt = torch.optim.SGD(params, lr=a.lr, momentum=0.9, weight_decay=a.wd)
    spe = x.shape[0] // a.batch
    total = spe * a.epochs
    step, t0, log = 0, time.time(), []
    for ep in range(a.epochs):
        enc.train(); pred.train()
        order = torch.randperm(x.shape[0], generator=gen, device=dev)
        losses = []
        for b in range(spe):
            lr = a.lr * 0.5 * (1 + math.cos(math.pi * step / total))
            for g in opt.param_groups: g['lr'] = lr
            xb = x[order[b * a.batch:(b + 1) * a.batch]]
            if method == 'simsiam':
                h1, z1 = enc(augment(xb, gen))
                _, z2 = enc(augment(xb, gen))
                p1, p2 = pred(z1), pred(z2)
                loss = (cos_loss(p1, z2).mean() + cos_loss(p2, z1).mean()) / 2
                zmon = z1
            else:
                r = torch.randperm(xb.shape[0], generator=gen, device=dev)
                views = [augment(xb, gen) for _ in range(4)]
                ins = [views[0], views[1], views[2][r], views[3][r]]
                outs = [enc(v) for v in ins]
                h1 = outs[0][0]
                z = [o[1] for o in outs]
                p = [pred(zz) for zz in z]
                t = [zz.detach() for zz in z]
                d = torch.stack([(t[0] - t[2]).norm(dim=1), (t[0] - t[3]).norm(dim=1),
                                 (t[1] - t[2]).norm(dim=1), (t[1] - t[3]).norm(dim=1)], 1)
                k = d.argmin(1)
                ia = torch.where(k < 2, 0, 1)            # source of image n: A1 for k=0,1
                ib = torch.where(k % 2 == 0, 2, 3)       # source of image r[n]: B1 for k=0,2
                P = torch.stack(p)                        # [4,N,D]
                T = torch.stack(t)
                n = torch.arange(xb.shape[0], device=dev)
                la = cos_loss(P[ia, n], T[1 - ia, n])     # sibling: A1 <-> A2
                lb = cos_loss(P[ib, n], T[5 - ib, n])     # sibling: B1 <-> B2
                loss = ((la + lb) / 2).mean()
                zmon = z[0]
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            losses.append(float(loss))
            step += 1
        with torch.no_grad():
            row = dict(method=method, epoch=ep + 1, loss=float(np.mean(losses)), erank_z=erank(zmon.float()),
                       erank_h=erank(h1.float()), seconds=round(time.time() - t0, 1))
        log.append(row)
        print(json.dumps(row), flush=True)
    enc.eval()
    with torch.no_grad():
        fb = torch.cat([enc.backbone(((tr[i:i + 1024] / 255) - 0.2860) / 0.3530) for i in range(0, tr.shape[0], 1024)])
        ft = torch.cat([enc.backbone(((te[i:i + 1024] / 255) - 0.2860) / 0.3530) for i in range(0, te.shape[0], 1024)])
        acc = knn(fb, trl, ft, tel)
    res = dict(method=method, predictor=bool(a.predictor), epochs=a.epochs, images=x.shape[0], knn_top1=acc,
               final_loss=log[-1]['loss'], final_erank_z=log[-1]['erank_z'], final_erank_h=log[-1]['erank_h'],
               seconds=round(time.time() - t0, 1))
    print(json.dumps(res), flush=True)
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--data', default='/usr/share/datasets/fashion-mnist')
    ap.add_argument('--images', type=int, default=10000)
    ap.add_argument('--bank', type=int, default=10000)
    ap.add_argument('--test', type=int, default=2000)
    ap.add_argument('--epochs', type=int, default=10)
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--lr', type=float, default=0.06)
    ap.add_argument('--wd', type=float, default=5e-4)
    ap.add_argument('--width', type=int, default=16)
    ap.add_argument('--proj', type=int, default=512)
    ap.add_argument('--pred', type=int, default=128)
    ap.add_argument('--predictor', action='store_true', help='keep the predictor (default: identity)')
    ap.add_argument('--methods', default='simsiam,gsg')
    ap.add_argument('--seed', type=int, default=0)
    ap.add_argument('--init', choices=['torch', 'torchvision'], default='torch',
                    help="conv init: PyTorch's default (kaiming_uniform a=sqrt(5)) or torchvision's ResNet "
                         "init, which gsg uses (kaiming_normal fan_out: larger weights, a smaller effective lr "
                         "behind BatchNorm)")
    ap.add_argument('--threads', type=int, default=0)
    a = ap.parse_args()
    if a.threads: torch.set_num_threads(a.threads)
    dev = 'cuda' if torch.cuda.is_available() else 'cpu'
    n = max(a.images, a.bank)
    xi = idx_images(os.path.join(a.data, 'train-images-idx3-ubyte.gz'), n)
    yl = idx_labels(os.path.join(a.data, 'train-labels-idx1-ubyte.gz'), n)
    ti = idx_images(os.path.join(a.data, 't10k-images-idx3-ubyte.gz'), a.test)
    tl = idx_labels(os.path.join(a.data, 't10k-labels-idx1-ubyte.gz'), a.test)
    f = lambda v: torch.tensor(v, dtype=torch.float32, device=dev)
    x = f(xi[:a.images]) / 255
    tr, te = f(xi[:a.bank]), f(ti)
    trl, tel = torch.tensor(yl[:a.bank], device=dev), torch.tensor(tl, device=dev)
    print(json.dumps(dict(device=dev, torch=torch.__version__, **vars(a))), flush=True)
    for m in a.methods.split(','):
        run(m, a, x, tr, trl, te, tel, dev)


if __name__ == '__main__':
    main()
