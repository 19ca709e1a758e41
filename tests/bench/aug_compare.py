#!/usr/bin/python3
"""aug_compare.py: gsg's augmentation against torchvision's transforms (docs/augmentation.md).

1. Parameters: N views' random parameters from gsg_aug_sample (BUILD/bench/aug_params) and N
   from torchvision's own get_params calls for the published recipe (written out below, not
   read from the C code, so a wrong constant in lib/aug/recipe.c shows): crop-scale histogram,
   mean/std of each continuous quantity with a two-sample Kolmogorov-Smirnov statistic, and the
   rate of each coin (flip, jitter applied, grayscale, blur, which colour op comes first) with
   the difference in standard errors.
2. Two-view cosine: the first M Fashion-MNIST training images, 2 views each from gsg-augment
   (fmnist recipe) and from the torchvision PIL pipeline; mean cosine between a view pair
   (flattened, centred), and the mean / std of the view pixels.

--check: exit 1 when a KS statistic exceeds the 0.001 critical value 1.95*sqrt(2/N) or a rate
differs by more than 4 standard errors (each line marked FAIL)."""
import argparse
import gzip
import math
import os
import subprocess
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'lib'))

# The recipes as published (SimSiam's CIFAR recipe; the Fashion-MNIST variant without the colour
# ops a grey image lacks; the SimSiam/GSG ImageNet recipe), torchvision argument by argument.
RECIPES = {
    'cifar': dict(size=32, src=(32, 32), scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), flip=0.5, jitter_p=0.8,
                  cj=(0.4, 0.4, 0.4, 0.1), gray=0.2, blur_p=0.0, sigma=(0.1, 2.0), solarize=0.0),
    'fmnist': dict(size=28, src=(28, 28), scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), flip=0.5, jitter_p=0.8,
                   cj=(0.4, 0.4, 0.0, 0.0), gray=0.0, blur_p=0.0, sigma=(0.1, 2.0), solarize=0.0),
    'imagenet': dict(size=224, src=(375, 500), scale=(0.2, 1.0), ratio=(3 / 4, 4 / 3), flip=0.5, jitter_p=0.8,
                     cj=(0.4, 0.4, 0.4, 0.1), gray=0.2, blur_p=0.5, sigma=(0.1, 2.0), solarize=0.0),
}
FASHION = '/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz'


def ks2(a, b):
    """Two-sample Kolmogorov-Smirnov statistic sup |F_a - F_b| (ties handled: CDFs right-continuous)."""
    a, b = np.sort(a), np.sort(b)
    x = np.concatenate([a, b])
    return float(np.max(np.abs(np.searchsorted(a, x, 'right') / len(a) - np.searchsorted(b, x, 'right') / len(b))))


def gsg_params(build, recipe, n, seed):
    H, W = RECIPES[recipe]['src']
    out = subprocess.run([os.path.join(build, 'bench', 'aug_params'), recipe, str(n), str(seed), str(H), str(W)],
                         check=True, capture_output=True, text=True).stdout.split('\n', 1)
    cols = out[0].split()
    t = np.loadtxt(out[1].splitlines(), ndmin=2)
    d = {c: t[:, k] for k, c in enumerate(cols)}
    # from the integer box, as on the torchvision side (the printed 6 decimals would split ties)
    d['scale'] = d['w'] * d['h'] / (H * W)
    d['ratio'] = d['w'] / d['h']
    return d


def tv_params(recipe, n, seed):
    import torch
    import torchvision.transforms as T
    R = RECIPES[recipe]
    torch.manual_seed(seed)
    H, W = R['src']
    img = torch.empty(1, H, W)
    cj = T.ColorJitter(*R['cj'])
    cols = {k: np.zeros(n) for k in ('x', 'y', 'w', 'h', 'flip', 'jitter', 'first', 'bright', 'contrast', 'sat',
                                     'hue', 'gray', 'blur', 'sigma', 'solarize')}
    for i in range(n):
        y, x, h, w = T.RandomResizedCrop.get_params(img, list(R['scale']), list(R['ratio']))
        flip = torch.rand(1) < R['flip']                       # RandomHorizontalFlip
        jitter = not (R['jitter_p'] < torch.rand(1))           # RandomApply([ColorJitter], p)
        fn, b, c, s, hu = T.ColorJitter.get_params(cj.brightness, cj.contrast, cj.saturation, cj.hue)
        gray = torch.rand(1) < R['gray']                       # RandomGrayscale
        blur = not (R['blur_p'] < torch.rand(1))               # RandomApply([GaussianBlur], p)
        sigma = T.GaussianBlur.get_params(*R['sigma'])
        sol = torch.rand(1).item() < R['solarize']             # RandomSolarize
        for k, v in (('x', x), ('y', y), ('w', w), ('h', h), ('flip', flip), ('jitter', jitter),
                     ('first', int(fn[0])), ('bright', 1.0 if b is None else b), ('contrast', 1.0 if c is None else c),
                     ('sat', 1.0 if s is None else s), ('hue', 0.0 if hu is None else hu), ('gray', gray),
                     ('blur', blur), ('sigma', sigma), ('solarize', sol)):
            cols[k][i] = float(v)
    cols['scale'] = cols['w'] * cols['h'] / (H * W)
    cols['ratio'] = cols['w'] / cols['h']
    return cols


def compare_params(build, recipe, n, seed, fails):
    R = RECIPES[recipe]
    H, W = R['src']
    g, t = gsg_params(build, recipe, n, seed), tv_params(recipe, n, seed)
    crit = 1.95 * math.sqrt(2.0 / n)
    print(f'== {recipe}: {n} parameter draws each, source {H}x{W}, output {R["size"]}x{R["size"]}')
    lo, hi = R['scale']
    edges = np.linspace(lo, hi, 11)
    hg = np.histogram(np.clip(g['scale'], lo, hi), edges)[0] / n
    ht = np.histogram(np.clip(t['scale'], lo, hi), edges)[0] / n
    print('crop scale (area fraction) histogram, fraction of draws per bin:')
    print(f'  {"bin":>11} {"gsg":>7} {"torchvision":>11}')
    for k in range(10):
        print(f'  {edges[k]:.2f}-{edges[k + 1]:.2f} {hg[k]:7.4f} {ht[k]:11.4f}')
    print(f'continuous quantities (mean / std; KS statistic, 0.001 critical value {crit:.4f}):')
    print(f'  {"quantity":<16} {"gsg mean":>9} {"std":>7} {"tv mean":>9} {"std":>7} {"KS":>7}')
    q = {'crop scale': lambda d: d['scale'], 'log aspect': lambda d: np.log(d['ratio']),
         'crop width': lambda d: d['w'], 'crop height': lambda d: d['h'],
         'crop centre x': lambda d: (d['x'] + d['w'] / 2) / W, 'crop centre y': lambda d: (d['y'] + d['h'] / 2) / H}
    if R['cj'][0] > 0: q['brightness'] = lambda d: d['bright']
    if R['cj'][1] > 0: q['contrast'] = lambda d: d['contrast']
    if R['cj'][2] > 0: q['saturation'] = lambda d: d['sat']
    if R['cj'][3] > 0: q['hue'] = lambda d: d['hue']
    if R['blur_p'] > 0: q['blur sigma'] = lambda d: d['sigma']
    for name, f in q.items():
        a, b = f(g), f(t)
        ks = ks2(a, b)
        bad = ks > crit
        if bad: fails.append(f'{recipe} {name}: KS {ks:.4f} > {crit:.4f}')
        print(f'  {name:<16} {a.mean():9.4f} {a.std():7.4f} {b.mean():9.4f} {b.std():7.4f} {ks:7.4f}'
              + ('  FAIL' if bad else ''))
    # identity factors a disabled op must keep (a constant: no KS)
    for name, key, ident, on in (('saturation', 'sat', 1.0, R['cj'][2]), ('hue', 'hue', 0.0, R['cj'][3])):
        if on == 0 and not np.all(g[key] == ident):
            fails.append(f'{recipe} {name}: disabled but gsg draws {g[key].min()}..{g[key].max()}')
            print(f'  {name:<16} disabled, gsg not the identity  FAIL')
    print('rates (|difference| / standard error of the difference; FAIL above 4):')
    print(f'  {"coin":<24} {"gsg":>7} {"torchvision":>11} {"z":>6}')
    rates = {'flip': g['flip'], 'jitter applied': g['jitter'], 'grayscale': g['gray'], 'blur': g['blur'],
             'solarize': g['solarize'], 'brightness first': g['first'] == 0, 'contrast first': g['first'] == 1}
    rt = {'flip': t['flip'], 'jitter applied': t['jitter'], 'grayscale': t['gray'], 'blur': t['blur'],
          'solarize': t['solarize'], 'brightness first': t['first'] == 0, 'contrast first': t['first'] == 1}
    for name in rates:
        a, b = float(np.mean(rates[name])), float(np.mean(rt[name]))
        p = (a + b) / 2
        se = math.sqrt(p * (1 - p) * 2 / n)
        z = abs(a - b) / se if se > 0 else (0.0 if a == b else math.inf)
        bad = z > 4
        if bad: fails.append(f'{recipe} {name}: rate {a:.4f} vs {b:.4f} ({z:.1f} SE)')
        print(f'  {name:<24} {a:7.4f} {b:11.4f} {z:6.2f}' + ('  FAIL' if bad else ''))
    print()


def fashion(m):
    with gzip.open(FASHION, 'rb') as f:
        raw = f.read()
    magic, n, h, w = np.frombuffer(raw[:16], '>u4')
    return np.frombuffer(raw[16:16 + m * h * w], np.uint8).reshape(m, int(h), int(w))


def cos_stats(v):
    """v: [M, 2, P] u8 views -> per-image centred cosine between view 0 and view 1 (constant views dropped)."""
    a = v[:, 0].astype(np.float64); b = v[:, 1].astype(np.float64)
    a -= a.mean(1, keepdims=True); b -= b.mean(1, keepdims=True)
    na, nb = np.linalg.norm(a, axis=1), np.linalg.norm(b, axis=1)
    ok = (na > 0) & (nb > 0)
    return np.sum(a[ok] * b[ok], 1) / (na[ok] * nb[ok]), int(np.sum(~ok))


def compare_views(build, m, seed):
    import torch
    import torchvision.transforms as T
    from PIL import Image
    import gsgt_io
    imgs = fashion(m)
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, 'v.gsgt')
        subprocess.run([os.path.join(build, 'bin', 'gsg-augment'), '--data', os.path.dirname(FASHION), '--recipe', 'fmnist',
                        '--limit', str(m), '--views', '2', '--batch', str(m), '--epochs', '1', '--seed', str(seed),
                        '--threads', '1', '-o', out], check=True)
        views, index = gsgt_io.get(out, 'views'), gsgt_io.get(out, 'index')
    g = np.zeros((m, 2, 28 * 28), np.uint8)
    g[index] = views.reshape(len(index), 2, -1)
    R = RECIPES['fmnist']
    tf = T.Compose([T.RandomResizedCrop(R['size'], scale=R['scale'], ratio=R['ratio']), T.RandomHorizontalFlip(R['flip']),
                    T.RandomApply([T.ColorJitter(*R['cj'])], p=R['jitter_p'])])
    torch.manual_seed(seed)
    t = np.zeros_like(g)
    for i in range(m):
        im = Image.fromarray(imgs[i], 'L')
        for v in range(2):
            t[i, v] = np.asarray(tf(im), np.uint8).ravel()
    print(f'== fmnist views: the first {m} Fashion-MNIST training images, 2 views each (PIL pipeline for torchvision)')
    print(f'  {"":<28} {"gsg":>9} {"torchvision":>11}')
    cg, dg = cos_stats(g)
    ct, dt = cos_stats(t)
    se = math.sqrt(cg.var() / len(cg) + ct.var() / len(ct))
    print(f'  {"mean cosine of the 2 views":<28} {cg.mean():9.4f} {ct.mean():11.4f}   difference {cg.mean() - ct.mean():+.4f}'
          f' ({abs(cg.mean() - ct.mean()) / se:.1f} SE)')
    print(f'  {"std of the cosine":<28} {cg.std():9.4f} {ct.std():11.4f}')
    print(f'  {"constant views (dropped)":<28} {dg:9d} {dt:11d}')
    print(f'  {"view pixel mean (0..255)":<28} {g.mean():9.2f} {t.mean():11.2f}')
    print(f'  {"view pixel std":<28} {g.std():9.2f} {t.std():11.2f}')
    print(f'  {"source pixel mean / std":<28} {imgs.mean():9.2f} {imgs.std():11.2f}')
    # the same views rendered by torchvision from gsg's own parameters: the ops alone
    import torchvision.transforms.functional as F
    out = subprocess.run([os.path.join(build, 'bench', 'aug_params'), 'fmnist', str(m), str(seed), '28', '28', '2'],
                         check=True, capture_output=True, text=True).stdout.split('\n', 1)
    t2 = np.loadtxt(out[1].splitlines(), ndmin=2)
    c = {k: t2[:, j] for j, k in enumerate(out[0].split())}
    same = np.zeros_like(g)
    for r in range(len(t2)):
        i, v = int(c['index'][r]), int(c['view'][r])
        im = F.resized_crop(Image.fromarray(imgs[i], 'L'), int(c['y'][r]), int(c['x'][r]), int(c['h'][r]), int(c['w'][r]),
                            [28, 28], T.InterpolationMode.BILINEAR)
        if c['flip'][r]: im = F.hflip(im)
        if c['jitter'][r]:
            for op in f'{int(c["order"][r]):04d}':   # gsg's order; saturation and hue are off in fmnist
                if op == '0': im = F.adjust_brightness(im, c['bright'][r])
                if op == '1': im = F.adjust_contrast(im, c['contrast'][r])
        same[i, v] = np.asarray(im, np.uint8).ravel()
    d = np.abs(same.astype(np.int16) - g.astype(np.int16))
    jit = np.zeros((m, 2), bool)
    jit[c['index'].astype(int), c['view'].astype(int)] = c['jitter'] > 0
    print('  the same views rendered by torchvision from gsg\'s own parameters (|gsg - torchvision| per pixel):')
    d = d.reshape(m, 2, 28, 28)
    inner = d[:, :, 1:-1, 1:-1]
    for name, sel in (('all views', np.ones_like(jit)), ('crop + flip only', ~jit), ('with colour jitter', jit)):
        e = d[sel]
        print(f'    {name:<20} {int(sel.sum()):5d} views: mean {e.mean():.3f}, max {e.max()},'
              f' pixels off by > 1: {np.mean(e > 1):.4%}, by > 4: {np.mean(e > 4):.4%}')
    border = (d.sum() - inner.sum()) / (d.size - inner.size)
    print(f'    {"interior (26x26)":<20} {2 * m:5d} views: mean {inner.mean():.3f}, max {inner.max()};'
          f' the 1-pixel border ring: mean {border:.3f}, max {d.max()}')
    print()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--build', default='build')
    ap.add_argument('--recipes', default='cifar,fmnist,imagenet')
    ap.add_argument('--n', type=int, default=100000, help='parameter draws per side and recipe')
    ap.add_argument('--images', type=int, default=2000, help='Fashion-MNIST images for the view cosine (0: none)')
    ap.add_argument('--seed', type=int, default=1)
    ap.add_argument('--check', action='store_true', help='exit 1 when a KS statistic or a rate fails')
    a = ap.parse_args()
    import torch
    import torchvision
    torch.set_num_threads(1)
    print(f'aug_compare: torch {torch.__version__}, torchvision {torchvision.__version__}, seed {a.seed}\n')
    fails = []
    for r in a.recipes.split(','):
        compare_params(a.build, r, a.n, a.seed, fails)
    if a.images > 0:
        if os.path.exists(FASHION):
            compare_views(a.build, a.images, a.seed)
        else:
            print(f'== views: {FASHION} not installed (dataset-fashion-mnist): no view cosine\n')
    print(f'aug_compare: {"FAIL: " + "; ".join(fails) if fails else "ok"}')
    return 1 if a.check and fails else 0


if __name__ == '__main__':
    sys.exit(main())
