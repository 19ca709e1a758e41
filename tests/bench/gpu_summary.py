#!/usr/bin/python3
"""gpu_summary.py: the table of `make bench-gpu` from the RESULT lines that gpu_bench_step (ours) and
gpu_torch_step.py (PyTorch) printed into one file. For each recipe and method: images/s of ours (fp32,
bf16) and of PyTorch (eager fp32, eager AMP bf16, torch.compile), the ratios of our
best to PyTorch's AMP and compile rows (goals: cifar >= 1.0x AMP, fmnist >= 2x AMP, both >= 1.2x compile),
achieved TFLOP/s (FLOPs per step counted by PyTorch's flop counter on the same model) against the
measured bf16 GEMM rate, and the time of a 200-epoch run on 50,000 images at our best rate.
Ours through a CUDA graph is not reported: the trainer step stages through pageable host memory mid-step
(the GSG selection and losses run on the host), which stream capture cannot record; a graph=1 line is
ignored, and a column keeps its first line (a repeated row never overwrites another).

usage: gpu_summary.py RESULTS.txt > table.md     (missing rows print as "-", never as a number)"""
import re
import sys

GOAL_AMP = {'cifar': 1.0, 'fmnist': 2.0}
GOAL_COMPILE = 1.2


def parse(lines):
    rows, gemm = {}, None
    for ln in lines:
        m = re.match(r'RESULT (ours|torch|gemm) (.*)', ln.strip())
        if not m:
            continue
        kv = dict(x.split('=', 1) for x in m.group(2).split() if '=' in x)
        if m.group(1) == 'gemm':
            gemm = float(kv['bf16_tflops'])
            continue
        if m.group(1) == 'ours':
            if kv.get('graph', '0') != '0':
                continue   # not capturable: see the docstring
            col = 'ours ' + kv['precision']
        else:
            col = 'torch ' + kv['mode']
        rows.setdefault((kv['recipe'], kv['method']), {}).setdefault(col, kv)
    return rows, gemm


COLS = ['ours fp32', 'ours bf16', 'torch eager', 'torch amp', 'torch compile']


def fmt(x, spec='.0f'):
    return '-' if x is None else format(x, spec)


def table(rows, gemm):
    out = ['| recipe | method | ' + ' | '.join(COLS) + ' | ours/AMP | ours/compile | TFLOP/s (ours best) | '
           '200 epochs x 50k (ours best) |',
           '|' + '---|' * (len(COLS) + 6)]
    for (recipe, method) in sorted(rows):
        r = rows[(recipe, method)]
        img = {c: float(r[c]['img_s']) if c in r else None for c in COLS}
        ours = [img[c] for c in COLS[:2] if img[c] is not None]
        best = max(ours) if ours else None
        amp, comp = img['torch amp'], img['torch compile']
        ra = best / amp if best and amp else None
        rc = best / comp if best and comp else None
        flops = None
        for c in ('torch eager', 'torch amp'):
            if c in r and float(r[c].get('flops_per_step', 0)) > 0:
                flops = float(r[c]['flops_per_step'])
                break
        batch = None
        for c in COLS:
            if c in r:
                batch = int(r[c]['batch'])
                break
        tf = flops * best / batch / 1e12 if flops and best and batch else None
        tfs = fmt(tf, '.1f') + (f' ({100 * tf / gemm:.0f} % of {gemm:.0f})' if tf and gemm else '')
        hours = 200 * 50000 / best / 3600 if best else None
        ga = GOAL_AMP.get(recipe)
        ras = fmt(ra, '.2f') + ('x' if ra else '') + (f' (goal {ga:.1f}x)' if ga and ra else '')
        rcs = fmt(rc, '.2f') + ('x' if rc else '') + (f' (goal {GOAL_COMPILE:.1f}x)' if rc else '')
        out.append(f'| {recipe} | {method} | ' + ' | '.join(fmt(img[c]) for c in COLS) +
                   f' | {ras} | {rcs} | {tfs} | {fmt(hours, ".2f")}{" h" if hours else ""} |')
    out.append('')
    out.append('images/s; bf16 GEMM rate measured on the card: ' + (f'{gemm:.1f} TFLOP/s' if gemm else 'not measured'))
    out.append('ours through a CUDA graph: not reported (the step stages through pageable host memory mid-step, '
               'which stream capture cannot record)')
    return '\n'.join(out)


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        sys.exit(2)
    with open(sys.argv[1]) as fh:
        rows, gemm = parse(fh)
    print(table(rows, gemm))


if __name__ == '__main__':
    main()
