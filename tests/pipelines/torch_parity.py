#!/usr/bin/python3
"""usage: torch_parity.py DUMP | torch_parity.py --safetensors EXPORTED.safetensors CKPT.gsgt

PyTorch parity for lib/nn: loads the stream written by `test_nn --parity-dump FILE`
(our initial weights, an input batch, our outputs and gradients) into
torchvision.models.resnet18 (CIFAR stem patched, fc = Identity) with strict=True plus
SimSiam heads, and compares eval-mode outputs and one training step's gradients and
BN running statistics.  Exit 0 when everything agrees, 1 with one line per mismatch,
77 when torch/torchvision are missing (the caller reports a skip)."""
import struct
import sys

try:
    import numpy as np
    import torch
    import torch.nn as nn
    import torchvision
    sys.path.insert(0, __file__.rsplit('/', 1)[0] + '/../lib')
    from gsgt_io import read_meta
except ImportError as e:  # pragma: no cover
    print(f"torch_parity: skipped: {e}")
    sys.exit(77)

def read_gsgt(path):
    """(seq, name, meta, array) of every data record, through the shared test reader."""
    return [(s, n, m, a.copy()) for s, n, a, m in read_meta(path)]


def read_safetensors(path):
    """A minimal safetensors reader: u64 header length, JSON header, raw little-endian data."""
    import json
    dt = {'F32': '<f4', 'F64': '<f8', 'I64': '<i8', 'I32': '<i4', 'U8': 'u1', 'F16': '<f2'}
    with open(path, 'rb') as f:
        n = struct.unpack('<Q', f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in head.items():
        if k == '__metadata__':
            continue
        a, b = v['data_offsets']
        out[k] = np.frombuffer(data[a:b], dt[v['dtype']]).reshape(v['shape']).copy()
    return out


def check_safetensors(st_path, ckpt_path):
    """The backbone exported by `gsg-tensor export --format safetensors --backbone` loads into
    torchvision's resnet18 (CIFAR stem) with strict=True and equals the checkpoint's tensors."""
    sd = read_safetensors(st_path)
    net = torchvision.models.resnet18()
    net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    net.load_state_dict({k: torch.from_numpy(v) for k, v in sd.items()}, strict=True)
    ck = {name: a for _, name, _, a in read_gsgt(ckpt_path)}
    bad = [k for k, v in net.state_dict().items() if not np.array_equal(v.numpy(), ck[k])]
    if bad:
        print(f'torch_parity: {len(bad)} exported tensors differ from the checkpoint: {bad[:3]}')
        return 1
    print(f'torch_parity: ok: {len(sd)} safetensors records load into torchvision resnet18 (strict) '
          f'and equal the checkpoint')
    return 0


def main():
    if len(sys.argv) == 4 and sys.argv[1] == '--safetensors':
        return check_safetensors(sys.argv[2], sys.argv[3])
    path = sys.argv[1]
    rec, meta0 = {}, ''
    for _, name, meta, a in read_gsgt(path):
        if not meta0 and meta:
            meta0 = meta
        rec[name] = a
    cfg = dict(kv.split('=', 1) for kv in meta0.strip().split('\n'))
    assert cfg['arch'] == 'resnet18' and cfg['stem'] == 'cifar', cfg   # width is checked by the strict load
    hid, D, ph = int(cfg['proj_hidden']), int(cfg['proj_dim']), int(cfg['pred_hidden'])
    torch.manual_seed(0)
    torch.set_num_threads(2)
    net = torchvision.models.resnet18()
    net.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    net.maxpool = nn.Identity()
    net.fc = nn.Identity()
    projector = nn.Sequential(nn.Linear(512, hid, bias=False), nn.BatchNorm1d(hid), nn.ReLU(inplace=True),
                              nn.Linear(hid, D, bias=False), nn.BatchNorm1d(D, affine=False))
    predictor = nn.Sequential(nn.Linear(D, ph, bias=False), nn.BatchNorm1d(ph), nn.ReLU(inplace=True),
                              nn.Linear(ph, D))

    def sd(prefix):
        out = {}
        for k, v in rec.items():
            if k.startswith('w.' + prefix):
                t = torch.from_numpy(v)
                out[k[2 + len(prefix):]] = t
        return out
    bb = {k: v for k, v in sd('').items() if not k.startswith(('projector.', 'predictor.'))}
    net.load_state_dict(bb, strict=True)           # raises on any missing or unexpected name
    projector.load_state_dict(sd('projector.'), strict=True)
    predictor.load_state_dict(sd('predictor.'), strict=True)
    x = torch.from_numpy(rec['x']).permute(0, 3, 1, 2).contiguous()
    dz, dp = torch.from_numpy(rec['dz']), torch.from_numpy(rec['dp'])
    bad = []

    def cmp(what, ours, theirs, rtol, atol=0.0):
        ours = np.asarray(ours, dtype=np.float64)
        theirs = np.asarray(theirs.detach().numpy() if torch.is_tensor(theirs) else theirs, dtype=np.float64)
        if ours.shape != theirs.shape:
            bad.append(f'{what}: shape {ours.shape}, expected {theirs.shape}')
            return
        scale = np.abs(theirs).max() + 1e-12
        err = np.abs(ours - theirs).max()
        if err > rtol * scale + atol:
            bad.append(f'{what}: max abs error {err:.3g} (scale {scale:.3g}, tolerance {rtol:g} relative)')
    for m in (net, projector, predictor):
        m.eval()
    with torch.no_grad():
        h = net(x)
        z = projector(h)
        p = predictor(z)
    cmp('eval.h', rec['eval.h'], h, 1e-4)
    cmp('eval.z', rec['eval.z'], z, 1e-4)
    cmp('eval.p', rec['eval.p'], p, 1e-4)
    for m in (net, projector, predictor):
        m.train()
    h = net(x)
    z = projector(h)
    p = predictor(z)
    cmp('train.h', rec['train.h'], h, 1e-4)
    cmp('train.z', rec['train.z'], z, 1e-3)
    cmp('train.p', rec['train.p'], p, 1e-3)
    ((z * dz).sum() + (p * dp).sum()).backward()
    named = [(k, v) for k, v in net.named_parameters()] + \
            [('projector.' + k, v) for k, v in projector.named_parameters()] + \
            [('predictor.' + k, v) for k, v in predictor.named_parameters()]
    for k, v in named:
        if 'g.' + k not in rec:
            bad.append(f'gradient of {k}: missing from our dump')
            continue
        cmp('gradient of ' + k, rec['g.' + k], v.grad, 2e-3)
    bufs = [(k, v) for k, v in net.named_buffers()] + \
           [('projector.' + k, v) for k, v in projector.named_buffers()] + \
           [('predictor.' + k, v) for k, v in predictor.named_buffers()]
    for k, v in bufs:
        cmp('buffer ' + k, rec['b.' + k], v, 1e-4, 1e-6)
    ng = len(named)
    if bad:
        for b in bad:
            print('torch_parity: ' + b)
        print(f'torch_parity: {len(bad)} mismatches')
        return 1
    print(f'torch_parity: ok: eval outputs, train outputs, {ng} gradients and {len(bufs)} buffers agree '
          f'(torch {torch.__version__}, torchvision {torchvision.__version__})')
    return 0


if __name__ == '__main__':
    sys.exit(main())
