#!/usr/bin/python3
"""usage: trajectory.py VIEWS CKPT_START CKPT_END METRICS [DUMP]

Many steps of gsg-step against a float32 PyTorch loop: from CKPT_START (step s0) the loop trains
on VIEWS' batches s0..s1-1 (gsg-augment's own views; GSG: gsg-step's permutations and choices from
DUMP) with tests/pipelines/torch_step_parity.py's run_step, and must end where gsg-step did
(CKPT_END, step s1) with the per-step losses of METRICS. This separates the engine from the
augmentation: same views, same pairing, only the arithmetic differs.

Tolerance, derived from float32 rounding (docs/parity.md): loop A runs as loaded (NCHW), and
three loops B1..B3 permute every batch's rows (their own random orders) in channels_last, NCHW,
channels_last: other summation orders, the same mathematics. The distances B-A are what float32
rounding alone does to this trajectory; gsg's distance to A must be within 4x of their largest:
per step, |loss_gsg - loss_A| <= 4 max_{t<=s, i} |loss_Bi - loss_A| + 1e-6; at the end, the
parameters' global norm ||w_gsg - w_A|| <= 4 ||w_B1 - w_A|| + eps32 ||w_A||. GSG: both loops use gsg's choices; the rows where torch's own argmin (on A's
state) differs from gsg's must be at most 4x the rows where A's and a B loop's own argmins differ
(the most over the B loops), + 1 %.
The line also prints how far the parameters moved: at batch 32 float32 rounding alone decorrelates
the trajectories within about 15 steps (spread ~ movement, docs/parity.md), so the early steps'
losses carry most of the evidence. Exit 0 and one 'ok' line, 1 with a line per mismatch, 77
without torch."""
import json
import os
import sys
import time

here = __file__.rsplit('/', 1)[0]
sys.path[:0] = [here, here + '/../lib']
try:
    import numpy as np
    import torch
    from gsgt_io import read_meta
    from torch_step_parity import EPS32, kv, load_ckpt, run_step
except ImportError as e:  # pragma: no cover
    print(f"trajectory: skipped: {e}")
    sys.exit(77)

TOL = 4.0
LOOPS = 6   # alternative float32 loops, channels_last and NCHW in turn, each with its own row orders


def main(argv):
    if len(argv) not in (4, 5):
        print(__doc__.splitlines()[0])
        return 2
    views_p, start_p, end_p, metrics_p = argv[:4]
    dump_p = argv[4] if len(argv) == 5 else None
    torch.manual_seed(0)
    t0 = time.time()
    rb, cfg, st = load_ckpt(start_p)
    re_, _, ste = load_ckpt(end_p)
    s0, s1 = int(st['step']), int(ste['step'])
    gsg = cfg.get('gsg') == '1'
    # the mutation check (trajectory.bats): TRAJ_LR_SCALE=x runs the torch loops at x times gsg's lr,
    # the size of error the comparison must catch
    if os.environ.get('TRAJ_LR_SCALE'):
        cfg = dict(cfg, lr=repr(float(cfg['lr']) * float(os.environ['TRAJ_LR_SCALE'])))
    rows = {r['step']: r for r in map(json.loads, open(metrics_p))}
    dump = {(q, n): a for q, n, a, _ in read_meta(dump_p)} if gsg else {}
    views, norm = {}, None
    for q, n, a, m in read_meta(views_p):
        if n == 'views' and s0 <= q < s1:
            views[q] = a.copy()
            norm = norm or kv(m)
    C = next(iter(views.values())).shape[2]
    mean = torch.tensor([float(t) for t in norm['mean'].split(',')][:C], dtype=torch.float64)
    std = torch.tensor([float(t) for t in norm['std'].split(',')][:C], dtype=torch.float64)
    keys = [k for k in rb if not k.startswith('gsg.')]
    A = {k: np.array(rb[k]) for k in keys}
    Bs = [dict(A) for _ in range(LOOPS)]
    problems, env, flips, flips_ab, nrows, worst = [], 0.0, 0, 0, 0, 0.0
    flips_b = [0] * LOOPS   # per B loop: rows where its own argmin differs from A's
    for s in range(s0, s1):
        x = (torch.from_numpy(views[s].astype(np.float64) / 255.0) - mean.view(1, 1, -1, 1, 1)) / std.view(1, 1, -1, 1, 1)
        N = x.shape[0]
        perm = torch.from_numpy(dump[(s, 'gsg.perm')].astype(np.int64)) if gsg else None
        kg = torch.from_numpy(dump[(s, 'gsg.choice')].astype(np.int64)) if gsg else None
        if gsg:   # torch's own choices on A's and every B loop's state, then all loops use gsg's choices
            own_a = run_step(A, cfg, x, s, perm, None, torch.float32)['k']
            flips += int((own_a != kg).sum())
            for i, B in enumerate(Bs):
                own_b = run_step(B, cfg, x, s, perm, None, torch.float32, order=torch.randperm(N), channels_last=i % 2 == 0)['k']
                flips_b[i] += int((own_a != own_b).sum())
            flips_ab = max(flips_b)
            nrows += N
        ra = run_step(A, cfg, x, s, perm, kg, torch.float32)
        rbs = [run_step(B, cfg, x, s, perm, kg, torch.float32, order=torch.randperm(N), channels_last=i % 2 == 0)
               for i, B in enumerate(Bs)]
        A = {k: v.astype(np.float32) for k, v in ra['w'].items()} | {k: A[k] for k in A if k not in ra['w']}
        Bs = [{k: v.astype(np.float32) for k, v in r['w'].items()} | {k: B[k] for k in B if k not in r['w']}
              for B, r in zip(Bs, rbs)]
        env = max([env] + [abs(r["loss"] - ra["loss"]) for r in rbs])
        e = abs(rows[s]['loss'] - ra['loss'])
        worst = max(worst, e / (env + 1e-6))
        if e > TOL * env + 1e-6:
            problems.append(f'step {s}: loss gsg {rows[s]["loss"]:.7f} torch {ra["loss"]:.7f} (float32 spread so far {env:.3g};'
                            f' {e / (env + 1e-6):.3g}x, {e / (TOL * env + 1e-6):.3g}x the allowed {TOL:g}x)')
    names = [k for k in keys if not k.startswith('opt.') and 'running' not in k and not k.endswith('num_batches_tracked')]
    fa = np.concatenate([A[k].astype(np.float64).ravel() for k in names])
    fg = np.concatenate([np.array(re_[k], dtype=np.float64).ravel() for k in names])
    E = float(np.linalg.norm(fg - fa))
    S = max(float(np.linalg.norm(np.concatenate([B[k].astype(np.float64).ravel() for k in names]) - fa)) for B in Bs)
    moved = float(np.linalg.norm(fa - np.concatenate([np.array(rb[k], dtype=np.float64).ravel() for k in names])))
    if E > TOL * S + EPS32 * float(np.linalg.norm(fa)):
        problems.append(f'final parameters: gsg is {E:.3g} from torch, float32 spread {S:.3g} ({E / S:.3g}x, allowed {TOL:g}x)')
    if gsg and flips > TOL * flips_ab + 0.01 * nrows:
        problems.append(f'choices: torch\'s own argmin differs from gsg-step\'s in {flips} of {nrows} rows'
                        f' (float32 spread: {flips_ab} rows)')
    for l in problems:
        print('trajectory: ' + l)
    if problems:
        return 1
    print(f"trajectory: ok: {'GSG' if gsg else 'SimSiam'}, steps {s0}..{s1 - 1}, loss {rows[s0]['loss']:.4f} -> {rows[s1 - 1]['loss']:.4f};"
          f" worst loss {worst:.2f}x the float32 spread; final parameters {E:.3g} from torch, spread {S:.3g}"
          f" ({E / max(S, 1e-30):.2f}x), moved {moved:.3g}" + (f"; {flips}/{nrows} choices differ (float32 spread {flips_ab}: the most of the {LOOPS} torch loops against A)" if gsg else '')
          + f"; {time.time() - t0:.0f}s")
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
