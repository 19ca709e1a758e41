#!/usr/bin/python3
"""bench.py: the driver of `make bench` (tests/bench/bench.mk). One run, every row: the SimSiam
step of lib/nn (bench_step) and of PyTorch (torch_step.py) in fp32 and in bf16 (gsg: oneDNN bf16
convolutions; PyTorch: torch.autocast("cpu", bfloat16)), for each recipe, as one table with
images/s, peak RSS, GFLOP/s, the share of the measured fp32 FMA peak (bench_peak) and the
gsg/PyTorch ratios at equal precision.

Each round measures the FMA peak, then runs every recipe's four sides back to back (gsg fp32,
PyTorch fp32, gsg bf16, PyTorch bf16; the order reversed in odd rounds, so slow drifts of the
machine fall on both sides alike); the table gives medians over the rounds. bf16 rows read
"n/a (CPU has no native bf16)" where the CPU has neither AVX512_BF16 nor AMX-BF16 (or the reason
bench_step gives when the build cannot), PyTorch rows "skipped (no torch)" when the interpreter has
no torch/torchvision. Both sides count the step's FLOPs independently (lib/nn's network walk,
PyTorch forward hooks): a recipe whose counts differ is an error, the models would not be the same.

usage: bench.py [--build build] [--recipes "cifar fmnist"] [--precisions "fp32 bf16"] [--batch 256]
                [--steps 3] [--warmup 1] [--threads 2] [--rounds 3] [--peak-seconds 1]
                [--python /usr/bin/python3] [--out BUILD/bench/bench.md] [--logs BUILD/bench/logs]
Writes the table to stdout and, as markdown, to --out; each run's output to --logs.
Exit status: 0 ok, 1 a run failed or the two FLOP counts differ, 2 usage error.
Only the Python standard library is used here (the PyTorch peer runs in its own process)."""
import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TORCH_ENV = {'GLIBC_TUNABLES': 'glibc.malloc.mmap_threshold=4294967296:glibc.malloc.trim_threshold=17179869184'}
EXIT_NA, EXIT_SKIP = 3, 77
NO_BF16 = 'n/a (CPU has no native bf16)'
NO_TORCH = 'skipped (no torch)'


def die(msg, code=2):
    print(f"bench.py: {msg}", file=sys.stderr)
    sys.exit(code)


def cpu_info():
    """model name, family, model and the flags set of the first CPU in /proc/cpuinfo."""
    info = {'model name': '?', 'cpu family': '?', 'model': '?', 'flags': ''}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if not line.strip():
                    break
                k, _, v = line.partition(':')
                k = k.strip()
                if k in info:
                    info[k] = v.strip()
    except OSError:
        pass
    return info['model name'], info['cpu family'], info['model'], set(info['flags'].split())


def parse_result(text):
    """key=value pairs of the last line starting with RESULT, or None."""
    for line in reversed(text.splitlines()):
        if line.startswith('RESULT '):
            return dict(kv.split('=', 1) for kv in line.split()[1:] if '=' in kv)
    return None


def run(cmd, env_extra, log):
    env = dict(os.environ)
    env.update(env_extra)
    t0 = time.monotonic()
    p = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    with open(log, 'w') as f:
        f.write(f"$ {' '.join(cmd)}\n{p.stdout}(exit {p.returncode}, {time.monotonic() - t0:.1f} s)\n")
    return p.returncode, p.stdout


def last_line(text):
    lines = [l for l in text.splitlines() if l.strip()]
    return lines[-1] if lines else ''


def fmt(x, nd):
    return f"{x:.{nd}f}"


def main():
    ap = argparse.ArgumentParser(description='make bench: gsg and PyTorch SimSiam steps, fp32 and bf16, every '
                                 'recipe, in one table (medians over rounds).')
    ap.add_argument('--build', default='build', help='build folder holding bench/bench_step and bench/bench_peak')
    ap.add_argument('--recipes', default='cifar fmnist')
    ap.add_argument('--precisions', default='fp32 bf16')
    ap.add_argument('--batch', type=int, default=256)
    ap.add_argument('--steps', type=int, default=3)
    ap.add_argument('--warmup', type=int, default=1)
    ap.add_argument('--threads', type=int, default=2)
    ap.add_argument('--rounds', type=int, default=3)
    ap.add_argument('--peak-seconds', type=float, default=1.0)
    ap.add_argument('--python', default='/usr/bin/python3', help='the interpreter that runs the PyTorch peer')
    ap.add_argument('--out', help='markdown table (default BUILD/bench/bench.md)')
    ap.add_argument('--logs', help="each run's output (default BUILD/bench/logs)")
    a = ap.parse_args()
    recipes = a.recipes.split()
    precisions = a.precisions.split()
    if not recipes or any(r not in ('cifar', 'fmnist') for r in recipes):
        ap.error(f"--recipes: '{a.recipes}': expected cifar and/or fmnist")
    if not precisions or any(p not in ('fp32', 'bf16') for p in precisions):
        ap.error(f"--precisions: '{a.precisions}': expected fp32 and/or bf16")
    if a.batch < 2 or a.steps < 1 or a.warmup < 0 or a.threads < 1 or a.rounds < 1 or a.peak_seconds <= 0:
        ap.error('--batch >= 2, --steps >= 1, --warmup >= 0, --threads >= 1, --rounds >= 1, --peak-seconds > 0')
    step_bin = os.path.join(a.build, 'bench', 'bench_step')
    peak_bin = os.path.join(a.build, 'bench', 'bench_peak')
    for b in (step_bin, peak_bin):
        if not os.access(b, os.X_OK):
            die(f"{b} is missing (make {b})")
    out = a.out or os.path.join(a.build, 'bench', 'bench.md')
    logs = a.logs or os.path.join(a.build, 'bench', 'logs')
    os.makedirs(logs, exist_ok=True)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)

    name, family, model, flags = cpu_info()
    cpu_bf16 = bool(flags & {'avx512_bf16', 'amx_bf16'})
    p = subprocess.run([a.python, '-c', 'import torch, torchvision; print(torch.__version__)'],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True) if os.access(a.python, os.X_OK) else None
    torch_version = p.stdout.strip() if p and p.returncode == 0 else None

    omp = {'OMP_NUM_THREADS': str(a.threads)}
    common = ['--batch', str(a.batch), '--steps', str(a.steps), '--warmup', str(a.warmup)]
    sides = [(s, pr) for pr in precisions for s in ('gsg', 'torch')]   # gsg fp32, torch fp32, gsg bf16, torch bf16
    res = {(r, s, pr): [] for r in recipes for s, pr in sides}          # measured RESULT dicts per round
    status = {}                                                         # (r, s, pr) -> n/a, skipped or failed text
    peaks, failed, vec = [], False, '?'
    print(f"bench: {len(recipes)} recipe(s) x {len(sides)} sides x {a.rounds} round(s), batch {a.batch}, "
          f"{a.steps} step(s) after {a.warmup} warm-up, {a.threads} threads; logs in {logs}", flush=True)
    for rnd in range(a.rounds):
        rc, text = run([peak_bin, '--seconds', str(a.peak_seconds)], omp, os.path.join(logs, f'r{rnd + 1}-peak.log'))
        r = parse_result(text) if rc == 0 else None
        if not r:
            die(f"bench_peak failed (exit {rc}): {last_line(text)}", 1)
        peaks.append(float(r['peak_gflops']))
        vec = r['vector_bits']
        print(f"round {rnd + 1}/{a.rounds}: FMA peak {float(r['peak_gflops']):.1f} GFLOP/s", flush=True)
        for recipe in recipes:
            for s, pr in (sides if rnd % 2 == 0 else sides[::-1]):
                key = (recipe, s, pr)
                if key in status:
                    continue   # n/a, skipped or failed: the same in every round
                log = os.path.join(logs, f'r{rnd + 1}-{recipe}-{s}-{pr}.log')
                if s == 'gsg':
                    rc, text = run([step_bin, '--recipe', recipe, '--precision', pr] + common, omp, log)
                elif torch_version is None:
                    status[key] = NO_TORCH
                    continue
                else:
                    cmd = [a.python, os.path.join(HERE, 'torch_step.py'), '--recipe', recipe,
                           '--threads', str(a.threads)] + common + (['--autocast', 'bf16'] if pr == 'bf16' else [])
                    rc, text = run(cmd, TORCH_ENV, log)
                r = parse_result(text) if rc == 0 else None
                label = f"  {recipe:7s} {'gsg' if s == 'gsg' else 'PyTorch':8s} {pr}"
                if r:
                    res[key].append(r)
                    print(f"{label}: {float(r['img_s']):.2f} images/s, {r['peak_rss_mb']} MiB", flush=True)
                    continue
                if rc == EXIT_NA:
                    why = last_line(text).split(': ', 2)[-1] if s == 'gsg' else ''
                    status[key] = NO_BF16 if not cpu_bf16 or not why else f"n/a ({why})"
                elif rc == EXIT_SKIP:
                    status[key] = NO_TORCH
                else:
                    status[key] = f"failed (exit {rc}; {log})"
                    failed = True
                print(f"{label}: {status[key]}", flush=True)

    peak = statistics.median(peaks)
    med = {}
    for key, rs in res.items():
        if rs and key not in status:
            img = [float(r['img_s']) for r in rs]
            med[key] = {'img_s': statistics.median(img), 'lo': min(img), 'hi': max(img),
                        'rss': statistics.median(float(r['peak_rss_mb']) for r in rs),
                        'gflop_img': float(rs[0]['gflop_per_img'])}
    # the two FLOP counts of a recipe must agree (same model on both sides)
    for recipe in recipes:
        counts = {s: med[(recipe, s, pr)]['gflop_img'] for s, pr in sides if (recipe, s, pr) in med}
        if len(counts) == 2 and abs(counts['gsg'] - counts['torch']) > 1e-6 * counts['gsg']:
            print(f"bench.py: {recipe}: lib/nn counts {counts['gsg']:.6f} GFLOP per image, PyTorch "
                  f"{counts['torch']:.6f}: the two models differ", file=sys.stderr)
            failed = True

    flag_txt = ', '.join(f"{f} {'yes' if f in flags else 'no'}" for f in ('avx2', 'avx512f', 'avx512_bf16', 'amx_bf16'))
    lines = [
        '# `make bench`: one SimSiam step, gsg (lib/nn) and PyTorch',
        '',
        f"CPU: {name} (family {family}, model {model}); {flag_txt}; {a.threads} threads",
        f"FMA peak: {peak:.1f} GFLOP/s fp32 ({vec}-bit vectors, bench_peak, median of {len(peaks)} round(s))",
        f"PyTorch: {torch_version + ' (channels_last, malloc thresholds raised)' if torch_version else 'not available'}; "
        f"batch {a.batch} x 2 views, {a.steps} timed step(s) after {a.warmup} warm-up, "
        f"medians of {a.rounds} round(s)",
        '',
        '| recipe | side | precision | images/s | range | peak RSS MiB | GFLOP/img | GFLOP/s | % of peak '
        '| gsg/PyTorch images/s | gsg/PyTorch RSS |',
        '|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ]
    for recipe in recipes:
        for s, pr in sides:
            key = (recipe, s, pr)
            side = 'gsg' if s == 'gsg' else 'PyTorch'
            prec = pr if s == 'gsg' or pr == 'fp32' else 'bf16 autocast'
            if key not in med:
                txt = status.get(key, 'no result')
                lines.append(f"| {recipe} | {side} | {prec} | {txt} | | | | | | | |")
                continue
            m = med[key]
            gf = m['img_s'] * m['gflop_img']
            ratio = ['', '']
            other = med.get((recipe, 'torch', pr))
            if s == 'gsg' and other:
                ratio = [f"{m['img_s'] / other['img_s']:.2f}x", f"{m['rss'] / other['rss']:.2f}x"]
            lines.append(f"| {recipe} | {side} | {prec} | {fmt(m['img_s'], 2)} | {fmt(m['lo'], 2)}–{fmt(m['hi'], 2)} "
                         f"| {m['rss']:.0f} | {m['gflop_img']:.4f} | {gf:.1f} | {100 * gf / peak:.1f} % "
                         f"| {ratio[0]} | {ratio[1]} |")
    lines += [
        '',
        'images/s: images (2 views each) per second, median over rounds; range: the rounds\' lowest and highest. '
        'GFLOP/img: the standard count of docs/performance.md §1 (convolutions and linear layers; forward, '
        'weight and input gradients, none for the stem), counted by each side on its own model. % of peak: '
        'GFLOP/s over the fp32 FMA peak, bf16 rows included. gsg bf16 runs the convolutions in oneDNN\'s bf16 '
        'kernels (everything else fp32); PyTorch bf16 is autocast around forward and loss. Per-run output: '
        f"{logs}.",
    ]
    table = '\n'.join(lines) + '\n'
    print()
    print(table, end='')
    with open(out, 'w') as f:
        f.write(table)
    print(f"bench: table written to {out}")
    if failed:
        die('a run failed or the FLOP counts differ (see above)', 1)


if __name__ == '__main__':
    main()
