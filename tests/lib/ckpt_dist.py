"""ckpt_dist INIT A B [B2 ...]: how far checkpoints B.. are from A, relative to how far A moved from
INIT: for every float tensor of the parameters and the momentum (not the BN running statistics),
||A - B|| / ||A - INIT|| (the momentum: / ||A||); prints the largest (and its tensor) per B, one line each."""
import sys
sys.path.insert(0, __file__.rsplit('/', 1)[0])
import numpy as np
import gsgt_io


def tensors(path):
    return {name: a.astype(np.float64) for _, name, a, _ in gsgt_io.read_meta(path)
            if a.dtype.kind == 'f' and 'running_' not in name}


init, a = tensors(sys.argv[1]), tensors(sys.argv[2])
for p in sys.argv[3:]:
    b = tensors(p)
    worst, which = 0.0, ''
    for k, x in a.items():
        # parameters: relative to their change since INIT; the momentum: relative to its size
        moved = np.linalg.norm(x) if k.startswith('opt.') or k not in init else np.linalg.norm(x - init[k])
        if moved == 0:
            continue
        d = np.linalg.norm(x - b[k]) / moved
        if d > worst:
            worst, which = d, k
    print(f'{worst:.6g} {which}')
