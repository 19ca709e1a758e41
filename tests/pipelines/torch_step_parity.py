#!/usr/bin/python3
"""usage: torch_step_parity.py VIEWS CKPT_BEFORE CKPT_AFTER METRICS [DUMP]

End-to-end parity of one gsg-step training step with PyTorch, written from docs/algorithm.md:
CKPT_BEFORE (parameters, BN buffers, SGD momentum after step s-1) is loaded into a PyTorch
ResNet-18 (CIFAR stem, any width, torchvision names) with the checkpoint's heads; batch s of
VIEWS (the same u8 views gsg-step read) goes through SimSiam's symmetric loss or GSG's (with
gsg-step's own permutation r, read from DUMP's gsg.perm), backward, then torch.optim.SGD's rule
(momentum 0.9, weight decay, the lr and predictor lr of METRICS' line for step s). The result
must match CKPT_AFTER: parameters, momentum buffers and BN running statistics, plus the loss and
(GSG) the choices k. Exit 0 and one 'ok' line when all agree, 1 with a line per mismatch, 77
when torch is missing."""
import json
import sys

here = __file__.rsplit('/', 1)[0]
sys.path[:0] = [here, here + '/../lib']
try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from torch_parity import read_gsgt
    from torch_resnet import Backbone, predictor, projector
except ImportError as e:  # pragma: no cover
    print(f"torch_step_parity: skipped: {e}")
    sys.exit(77)

torch.set_default_dtype(torch.float64)   # the reference in double: our float32 must land close


class Net(Backbone):
    """The checkpoint's network: backbone (torchvision names) + projector + predictor."""

    def __init__(self, cfg):
        super().__init__(int(cfg['width']), int(cfg['in_channels']))
        hid, D, ph = int(cfg['proj_hidden']), int(cfg['proj_dim']), int(cfg['pred_hidden'])
        assert int(cfg['proj_layers']) == 2, 'this check builds 2-layer projectors'
        self.projector = projector(self.feat, hid, D)
        self.predictor = predictor(D, ph) if ph > 0 else None

    def forward(self, x):
        z = self.projector(self.backbone(x))
        return z, (self.predictor(z) if self.predictor is not None else z)


def kv(text):
    return dict(l.split('=', 1) for l in text.splitlines() if '=' in l)


def load_ckpt(path):
    recs = {name: a for _, name, _, a in read_gsgt(path)}
    cfg = kv(bytes(recs['gsg.config']).decode())
    state = kv(bytes(recs['gsg.state']).decode())
    return recs, cfg, state


def main():
    if len(sys.argv) not in (5, 6):
        print(__doc__.splitlines()[0])
        return 2
    views_p, before_p, after_p, metrics_p = sys.argv[1:5]
    dump_p = sys.argv[5] if len(sys.argv) == 6 else None
    rb, cfg, state = load_ckpt(before_p)
    ra, _, state_a = load_ckpt(after_p)
    s = int(state['step'])
    assert int(state_a['step']) == s + 1, f'{after_p} is not one step after {before_p}'
    gsg, method = cfg.get('gsg') == '1', cfg.get('method', 'simsiam')
    if method != 'simsiam':
        print('torch_step_parity: only SimSiam (with or without GSG) is checked here')
        return 2
    wd, mom = float(cfg['wd']), float(cfg['momentum'])
    row = [json.loads(l) for l in open(metrics_p)]
    row = [r for r in row if r['step'] == s][0]
    lr, lr_pred = row['lr'], row['lr_pred']

    net = Net(cfg)
    sd = net.state_dict()
    for k in sd:
        sd[k] = torch.from_numpy(np.array(rb[k])).to(sd[k].dtype).reshape(sd[k].shape)
    net.load_state_dict(sd, strict=True)
    net.train()

    # batch s of the views, normalised with the stream's meta
    batch = {}
    for seq, name, meta, a in read_gsgt(views_p):
        if seq == s and name in ('views', 'index'):
            batch[name] = (a, meta)
    v, meta = batch['views']
    m = kv(meta)
    mean = torch.tensor([float(x) for x in m['mean'].split(',')])
    std = torch.tensor([float(x) for x in m['std'].split(',')])
    x = torch.from_numpy(v.astype(np.float64) / 255.0)               # [N,V,C,H,W]
    C = x.shape[2]
    mean, std = mean[:C], std[:C]
    x = (x - mean.view(1, 1, -1, 1, 1)) / std.view(1, 1, -1, 1, 1)
    N = x.shape[0]
    cos = lambda p, t: F.cosine_similarity(p, t.detach(), dim=1, eps=1e-8)
    problems = []
    if not gsg:
        z1, p1 = net(x[:, 0])
        z2, p2 = net(x[:, 1])
        loss = -(cos(p1, z2).mean() + cos(p2, z1).mean()) / 2
    else:
        dump = {(seq, name): a for seq, name, _, a in read_gsgt(dump_p)}
        r = torch.from_numpy(dump[(s, 'gsg.perm')].astype(np.int64))
        outs = [net(x[:, 0]), net(x[:, 1]), net(x[r, 2]), net(x[r, 3])]
        z = [o[0] for o in outs]
        p = [o[1] for o in outs]
        t = [zz.detach() for zz in z]
        d = torch.stack([(t[0] - t[2]).norm(dim=1), (t[0] - t[3]).norm(dim=1),
                         (t[1] - t[2]).norm(dim=1), (t[1] - t[3]).norm(dim=1)], 1)
        k = d.argmin(1)
        ours_k = torch.from_numpy(dump[(s, 'gsg.choice')].astype(np.int64))
        if not torch.equal(k, ours_k):
            problems.append(f'choices k differ: torch {k.tolist()} gsg {ours_k.tolist()}')
        ia = torch.where(k < 2, 0, 1)
        ib = torch.where(k % 2 == 0, 2, 3)
        P, T = torch.stack(p), torch.stack(t)
        n = torch.arange(N)
        loss = (-(cos(P[ia, n], T[1 - ia, n]) + cos(P[ib, n], T[5 - ib, n])) / 2).mean()
    if abs(float(loss) - row['loss']) > 1e-4:
        problems.append(f'loss: torch {float(loss):.7f} gsg {row["loss"]:.7f}')
    loss.backward()

    # torch.optim.SGD's rule: d = g + wd*w; buf = mom*buf + d; w -= lr*buf (predictor: lr_pred)
    with torch.no_grad():
        for name, prm in net.named_parameters():
            buf = torch.from_numpy(np.array(rb['opt.m.' + name])).reshape(prm.shape)
            d = prm.grad + wd * prm
            buf = mom * buf + d
            rate = lr_pred if name.startswith('predictor.') else lr
            new = prm - rate * buf
            ours_w = torch.from_numpy(np.array(ra[name])).reshape(prm.shape).double()
            ours_m = torch.from_numpy(np.array(ra['opt.m.' + name])).reshape(prm.shape).double()
            step_t = (new - prm).abs().max().item()
            err_w = (new - ours_w).abs().max().item()
            err_m = (buf - ours_m).abs().max().item()
            if err_w > 2e-3 * step_t + 1e-7:
                problems.append(f'{name}: update differs by {err_w:.3g} (update size {step_t:.3g})')
            if err_m > 2e-3 * buf.abs().max().item() + 1e-7:
                problems.append(f'opt.m.{name}: momentum differs by {err_m:.3g}')
        for name, b in net.named_buffers():
            if name.endswith('num_batches_tracked'):
                if int(b) != int(np.array(ra[name])):
                    problems.append(f'{name}: {int(b)} vs {int(np.array(ra[name]))}')
                continue
            ours_b = torch.from_numpy(np.array(ra[name])).reshape(b.shape).double()
            err = (b - ours_b).abs().max().item()
            if err > 1e-4 * (1 + b.abs().max().item()):
                problems.append(f'{name}: running statistic differs by {err:.3g}')
    for l in problems:
        print('torch_step_parity: ' + l)
    if problems:
        return 1
    print(f"torch_step_parity: ok: {'GSG' if gsg else 'SimSiam'}{'' if net.predictor is not None else ' without predictor'}"
          f", step {s}, {N} images, loss {float(loss):.6f}, {sum(1 for _ in net.parameters())} parameters, lr {lr:.5g}")
    return 0


if __name__ == '__main__':
    sys.exit(main())
