#!/usr/bin/python3
"""usage: torch_step_parity.py [--mutate M] VIEWS CKPT_BEFORE CKPT_AFTER METRICS [DUMP]

End-to-end parity of one gsg-step training step with PyTorch, written from docs/algorithm.md:
CKPT_BEFORE (parameters, BN buffers, SGD momentum, BYOL's target network after step s-1) is
loaded into a PyTorch ResNet-18 (CIFAR stem, any width, torchvision names) with the checkpoint's
heads; batch s of VIEWS (the same u8 views gsg-step read) goes through SimSiam's symmetric loss
or GSG's (with gsg-step's own permutation r, read from DUMP's gsg.perm), or SimCLR's NT-Xent (both
views in one forward of 2N rows, F.normalize, cosine / temperature, cross-entropy with the anchor's
own similarity masked out), backward, then
torch.optim.SGD's rule (momentum, weight decay, the lr and predictor lr of the cosine schedule
computed here from the checkpoint's config). BYOL: the target first takes its EMA step
(parameters only), then runs every view with train-mode BatchNorm; distances and targets come
from it. The result must match CKPT_AFTER: parameters, momentum buffers, BN running statistics
(online and target), plus the loss, lr, lr_pred and ema of METRICS and (GSG) the choices k.

The tolerance is derived, not guessed (docs/parity.md): the reference runs in float64, and the
same step also runs in float32 PyTorch six times with different summation orders (three batch
row orders, each with NCHW and with channels_last convolutions). Per tensor, the spread S = the largest
Frobenius distance of those float32 results from float64 is what float32 rounding alone does to
this step. gsg's distance E to float64 must satisfy E <= 4 S + eps32 |w|: a float32
implementation is as far from float64 as PyTorch's own float32 is, within a factor 4.

--mutate M makes the reference wrong on purpose, to prove the comparison discriminates:
  lr1pct           lr and lr_pred 1 % larger
  pred-lr          the predictor takes lr even under --fix-pred-lr
  online-distances BYOL+GSG: distances from the online network's projections
  online-targets   BYOL: targets from the online network
  target-eval-bn   BYOL: the target network's BatchNorm in eval mode
  self-in-denominator  SimCLR: each view's similarity with itself left in its softmax
  split-views      SimCLR: the two views in two forward calls (BatchNorm statistics per view)
GSG_PARITY_DEBUG=1 prints every tensor's E, S and ratio.
Exit 0 and one 'ok' line when all agree, 1 with a line per mismatch, 2 usage, 77 when torch is
missing."""
import json
import math
import os
import sys

here = __file__.rsplit('/', 1)[0]
sys.path[:0] = [here, here + '/../lib']
try:
    import numpy as np
    import torch
    import torch.nn.functional as F
    from gsgt_io import read_meta
    from torch_resnet import Backbone, predictor, projector
except ImportError as e:  # pragma: no cover
    print(f"torch_step_parity: skipped: {e}")
    sys.exit(77)

TOL = 4.0                       # E <= TOL * S + floor (docs/parity.md)
VARIANTS = 6                    # float32 runs: 3 row orders x (NCHW, channels_last)
EPS32 = 2.0 ** -24              # float32 unit roundoff
MUTATIONS = ('lr1pct', 'pred-lr', 'online-distances', 'online-targets', 'target-eval-bn', 'self-in-denominator',
             'split-views')


class Net(Backbone):
    """The checkpoint's network: backbone (torchvision names) + projector [+ predictor]."""

    def __init__(self, cfg, with_pred=True):
        super().__init__(int(cfg['width']), int(cfg['in_channels']))
        hid, D, ph = int(cfg['proj_hidden']), int(cfg['proj_dim']), int(cfg['pred_hidden'])
        assert int(cfg['proj_layers']) == 2, 'this check builds 2-layer projectors'
        self.projector = projector(self.feat, hid, D)
        self.predictor = predictor(D, ph) if ph > 0 and with_pred else None

    def forward(self, x):
        z = self.projector(self.backbone(x))
        return z, (self.predictor(z) if self.predictor is not None else z)


def kv(text):
    return dict(l.split('=', 1) for l in text.splitlines() if '=' in l)


def load_ckpt(path):
    recs = {n: a.copy() for _, n, a, _ in read_meta(path)}
    return recs, kv(bytes(recs['gsg.config']).decode()), kv(bytes(recs['gsg.state']).decode())


def schedule(cfg, s):
    """lr, lr_pred and the EMA coefficient of step s, from the config (docs/algorithm.md)."""
    base, epochs, warm = float(cfg['lr']), int(cfg['epochs']), int(cfg['warmup'])
    epoch = s // int(cfg['steps_per_epoch'])
    if warm > 0 and epoch < warm:
        lr = base * (epoch + 1) / warm
    else:
        x = min(max((epoch - warm) / (epochs - warm), 0.0), 1.0) if epochs > warm else 1.0
        lr = base * 0.5 * (1 + math.cos(math.pi * x))
    lr_pred = base if cfg.get('fix_pred_lr') == '1' else lr
    ema = float(cfg['ema'])
    if cfg.get('ema_cosine') == '1':
        total = epochs * int(cfg['steps_per_epoch'])
        ema = 1 - (1 - ema) * (math.cos(math.pi * s / total) + 1) / 2
    return lr, lr_pred, ema


def load_net(cfg, recs, prefix, dtype, with_pred, channels_last):
    net = Net(cfg, with_pred).to(dtype)
    sd = net.state_dict()
    for k in sd:
        sd[k] = torch.from_numpy(np.array(recs[prefix + k])).to(sd[k].dtype).reshape(sd[k].shape)
    net.load_state_dict(sd, strict=True)
    if channels_last:
        net = net.to(memory_format=torch.channels_last)
    return net.train()


def run_step(rb, cfg, x64, s, perm, k_force, dtype, order=None, channels_last=False, mutate=None):
    """One training step from checkpoint records rb on normalised views x64 [N,V,C,H,W] (float64)
    in dtype; order permutes the batch rows (a different summation order, the same mathematics).
    Returns {'w': {name: new value}, 'loss': float, 'k': choices in the original row order}."""
    byol = cfg.get('method') == 'byol'
    simclr = cfg.get('method') == 'simclr'
    gsg = cfg.get('gsg') == '1'
    lr, lr_pred, ema = schedule(cfg, s)
    if mutate == 'lr1pct':
        lr, lr_pred = 1.01 * lr, 1.01 * lr_pred
    if mutate == 'pred-lr':
        lr_pred = lr
    wd, mom = float(cfg['wd']), float(cfg['momentum'])
    net = load_net(cfg, rb, '', dtype, True, channels_last)
    tgt = load_net(cfg, rb, 'target.', dtype, False, channels_last) if byol else None
    if byol:
        on = dict(net.named_parameters())
        with torch.no_grad():   # the EMA step comes first: xi <- m xi + (1 - m) theta, parameters only
            for n, p in tgt.named_parameters():
                p.mul_(ema).add_((1 - ema) * on[n])
        if mutate == 'target-eval-bn':
            tgt.eval()
    N = x64.shape[0]
    q = torch.arange(N) if order is None else order
    x = x64.to(dtype)
    idx = [q, q] + ([perm[q], perm[q]] if gsg else [])
    outs, ts, zs = [], [], []
    k = None
    if simclr:
        # rows [view 0; view 1] in one forward (BatchNorm over the 2N rows), as gsg-step and SimCLR's code
        xv = torch.cat([x[q, 0], x[q, 1]])
        if channels_last:
            xv = xv.contiguous(memory_format=torch.channels_last)
        if mutate == 'split-views':
            z = torch.cat([net(xv[:N])[0], net(xv[N:])[0]])
        else:
            z = net(xv)[0]
        u = F.normalize(z, dim=1)
        sim = u @ u.t() / float(cfg['temperature'])
        if mutate != 'self-in-denominator':
            sim = sim.masked_fill(torch.eye(2 * N, dtype=torch.bool), float('-inf'))
        loss = F.cross_entropy(sim, (torch.arange(2 * N) + N) % (2 * N))
        idx = []
    for v, rows in enumerate(idx):
        xv = x[rows, v]
        if channels_last:
            xv = xv.contiguous(memory_format=torch.channels_last)
        z, p = net(xv)
        outs.append(p)
        zs.append(z.detach())
        if byol:
            with torch.no_grad():
                ts.append(tgt(xv)[0])
        else:
            ts.append(z.detach())
    if mutate == 'online-targets':
        ts = zs
    cos = lambda a, b: F.cosine_similarity(a, b, dim=1, eps=1e-8)
    if simclr:
        pass
    elif not gsg:
        loss = -(cos(outs[0], ts[1]).mean() + cos(outs[1], ts[0]).mean()) / 2
    else:
        dz = zs if mutate == 'online-distances' else ts
        d = torch.stack([(dz[0] - dz[2]).norm(dim=1), (dz[0] - dz[3]).norm(dim=1),
                         (dz[1] - dz[2]).norm(dim=1), (dz[1] - dz[3]).norm(dim=1)], 1)
        k = d.argmin(1) if k_force is None else k_force[q]
        ia = torch.where(k < 2, 0, 1)
        ib = torch.where(k % 2 == 0, 2, 3)
        P, T = torch.stack(outs), torch.stack(ts)
        n = torch.arange(N)
        loss = (-(cos(P[ia, n], T[1 - ia, n]) + cos(P[ib, n], T[5 - ib, n])) / 2).mean()
        ko = torch.empty_like(k)
        ko[q] = k
        k = ko
    loss.backward()
    w = {}
    with torch.no_grad():   # torch.optim.SGD's rule: d = g + wd w; buf = mom buf + d; w -= lr buf
        for name, prm in net.named_parameters():
            buf = torch.from_numpy(np.array(rb['opt.m.' + name])).to(dtype).reshape(prm.shape)
            buf = mom * buf + (prm.grad + wd * prm)
            rate = lr_pred if name.startswith('predictor.') else lr
            w[name] = (prm - rate * buf).double().numpy()
            w['opt.m.' + name] = buf.double().numpy()
        for pre, m in (('', net), ('target.', tgt)):
            if m is None:
                continue
            for name, b in m.named_buffers():
                w[pre + name] = b.double().numpy()
            if pre:
                for name, p in m.named_parameters():
                    w[pre + name] = p.double().numpy()
    return {'w': w, 'loss': float(loss), 'k': k, 'lr': lr, 'lr_pred': lr_pred, 'ema': ema if byol else None}


def main(argv):
    mutate = None
    if len(argv) >= 2 and argv[0] == '--mutate':
        mutate, argv = argv[1], argv[2:]
        if mutate not in MUTATIONS:
            print(f"torch_step_parity: --mutate: '{mutate}' is not one of {', '.join(MUTATIONS)}")
            return 2
    if len(argv) not in (4, 5):
        print(__doc__.splitlines()[0])
        return 2
    views_p, before_p, after_p, metrics_p = argv[:4]
    dump_p = argv[4] if len(argv) == 5 else None
    torch.manual_seed(0)
    rb, cfg, state = load_ckpt(before_p)
    ra, _, state_a = load_ckpt(after_p)
    s = int(state['step'])
    if int(state_a['step']) != s + 1:
        print(f'torch_step_parity: {after_p} is not one step after {before_p}')
        return 2
    gsg, byol = cfg.get('gsg') == '1', cfg.get('method') == 'byol'
    if gsg and (cfg.get('gsg_pairing') != '4view' or cfg.get('gsg_distance') != 'euclidean' or not dump_p):
        print('torch_step_parity: GSG is checked with the paper\'s 4-view pairing, Euclidean distance and a DUMP')
        return 2
    row = [r for r in map(json.loads, open(metrics_p)) if r['step'] == s][0]
    problems = []

    batch = {n: (a, m) for seq, n, a, m in read_meta(views_p) if seq == s and n == 'views'}
    v, meta = batch['views']
    m = kv(meta)
    C = v.shape[2]
    mean = torch.tensor([float(t) for t in m['mean'].split(',')][:C], dtype=torch.float64)
    std = torch.tensor([float(t) for t in m['std'].split(',')][:C], dtype=torch.float64)
    x = (torch.from_numpy(v.astype(np.float64) / 255.0) - mean.view(1, 1, -1, 1, 1)) / std.view(1, 1, -1, 1, 1)
    N = x.shape[0]
    perm = k_gsg = None
    if gsg:
        dump = {(seq, n): a for seq, n, a, _ in read_meta(dump_p)}
        perm = torch.from_numpy(dump[(s, 'gsg.perm')].astype(np.int64))
        k_gsg = torch.from_numpy(dump[(s, 'gsg.choice')].astype(np.int64))
    if byol:   # the case is only meaningful when the target has moved away from the online network
        gap = max(float(np.abs(rb[n] - rb['target.' + n]).max()) for n in rb if 'target.' + n in rb and 'running' not in n
                  and not n.endswith('num_batches_tracked'))
        if gap == 0:
            problems.append('the target network equals the online network at this step: resume later')

    ref = run_step(rb, cfg, x, s, perm, None, torch.float64, mutate=mutate)
    if gsg and not torch.equal(ref['k'], k_gsg):
        bad = int((ref['k'] != k_gsg).sum())
        problems.append(f'choices k differ in {bad} of {N} rows: torch {ref["k"].tolist()} gsg {k_gsg.tolist()}')
    for key in ('lr', 'lr_pred', 'ema'):
        if ref[key] is not None and abs(ref[key] - row[key]) > 1e-7 * abs(ref[key]):
            problems.append(f'{key}: schedule {ref[key]:.9g}, gsg-step {row[key]:.9g}')
    # the float32 spread: same step, same choices, six summation orders
    kf = ref['k']
    f32 = [run_step(rb, cfg, x, s, perm, kf, torch.float32, order=(torch.randperm(N) if i % 3 else None),
                    channels_last=i >= 3, mutate=mutate) for i in range(VARIANTS)]
    s_loss = max(abs(r['loss'] - ref['loss']) for r in f32)
    e_loss = abs(row['loss'] - ref['loss'])
    if e_loss > TOL * s_loss + 4 * EPS32 * abs(ref['loss']):
        problems.append(f'loss: torch {ref["loss"]:.9g} gsg {row["loss"]:.9g} (float32 spread {s_loss:.3g})')
    worst, worst_name, count = 0.0, '', 0
    for name, want in ref['w'].items():
        if name.endswith('num_batches_tracked'):
            if int(want) != int(np.array(ra[name])):
                problems.append(f'{name}: {int(want)} vs {int(np.array(ra[name]))}')
            continue
        ours = np.array(ra[name], dtype=np.float64).reshape(want.shape)
        E = float(np.linalg.norm(ours - want))
        S = max(float(np.linalg.norm(r['w'][name] - want)) for r in f32)
        floor = EPS32 * float(np.linalg.norm(want)) + 1e-30
        size = float(np.linalg.norm(want - np.array(rb[name], dtype=np.float64).reshape(want.shape))) if name in rb else 0.0
        ratio = E / (S + floor)
        if os.environ.get('GSG_PARITY_DEBUG'):
            print(f'debug {name} n={want.size} E={E:.3g} S={S:.3g} floor={floor:.3g} ratio={ratio:.3g}')
        count += 1
        if ratio > worst:
            worst, worst_name = ratio, name
        if E > TOL * S + floor:
            what = 'update' if not name.startswith('opt.m.') and 'running' not in name else 'value'
            problems.append(f'{name}: {what} differs by {E:.3g} (|update| {size:.3g}); float32 PyTorch spread {S:.3g}:'
                            f' {E / max(S, 1e-300):.3g}x, allowed {TOL:g}x')
    for l in problems:
        print('torch_step_parity: ' + l)
    if problems:
        # the margin of a mutation case: how far past the tolerance its worst tensor lands
        print(f'torch_step_parity: failed: worst {worst_name} at {worst:.3g}x the float32 spread'
              f' ({worst / TOL:.3g}x the allowed {TOL:g}x)')
        return 1
    kind = ('BYOL' if byol else 'SimSiam') + ('+GSG' if gsg else '') + ('' if int(cfg['pred_hidden']) else ' without predictor')
    if cfg.get('method') == 'simclr':
        kind = f"SimCLR (temperature {float(cfg['temperature']):g})"
    print(f"torch_step_parity: ok: {kind}, step {s}, {N} images, loss {ref['loss']:.6f}, {count} tensors, lr {ref['lr']:.5g}"
          f" lr_pred {ref['lr_pred']:.5g}; worst {worst_name} at {worst:.2f}x the float32 spread (allowed {TOL:g}x)")
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
