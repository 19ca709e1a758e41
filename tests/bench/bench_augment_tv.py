#!/usr/bin/python3
"""torchvision's augmentation on the images bench_augment wrote (same files, same recipes).
Usage: bench_augment_tv.py DIR   -> lines 'torchvision cifar views_per_s=X' and 'torchvision jpeg views_per_s=X'.
One process, one thread: the per-core rate a DataLoader worker gets."""
import glob, sys, time
import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image, ImageFilter

torch.set_num_threads(1)
d = sys.argv[1]
n_cifar = int(sys.argv[2]) if len(sys.argv) > 2 else 2048


class PilBlur:
    """SimSiam's GaussianBlur (PIL radius = sigma in [0.1, 2])."""
    def __call__(self, x):
        return x.filter(ImageFilter.GaussianBlur(radius=float(np.random.uniform(0.1, 2.0))))


def best_rate(fn, views, reps=2):
    best = 0
    fn()  # warm up
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = max(best, views / (time.perf_counter() - t0))
    return best


# CIFAR recipe (SimSiam): images kept as numpy like torchvision.datasets.CIFAR10, Image.fromarray per item
raw = np.fromfile(f'{d}/data_batch_1.bin', np.uint8).reshape(-1, 3073)[:n_cifar, 1:].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
raw = np.ascontiguousarray(raw)
cifar = T.Compose([T.RandomResizedCrop(32, scale=(0.2, 1.0)), T.RandomHorizontalFlip(),
                   T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8), T.RandomGrayscale(p=0.2), T.PILToTensor()])


def run_cifar():
    for a in raw:
        img = Image.fromarray(a)
        cifar(img); cifar(img)


print(f'torchvision cifar views_per_s={best_rate(run_cifar, 2 * len(raw)):.0f}', flush=True)

files = sorted(glob.glob(f'{d}/jpeg/*/*.jpg'))
inet = T.Compose([T.RandomResizedCrop(224, scale=(0.2, 1.0)), T.RandomApply([T.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
                  T.RandomGrayscale(p=0.2), T.RandomApply([PilBlur()], p=0.5), T.RandomHorizontalFlip(), T.PILToTensor()])


def run_jpeg():
    for f in files:
        img = Image.open(f).convert('RGB')
        inet(img); inet(img)


print(f'torchvision jpeg views_per_s={best_rate(run_jpeg, 2 * len(files), reps=1):.1f}', flush=True)
