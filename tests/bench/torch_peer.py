"""torch_peer.py: the PyTorch models of the recipes, shared by the peer benchmarks (torch_step.py,
bench_gsg.py), as docs/algorithm.md §7 and lib/nn/net.c gsg_net_config_recipe define them:
  cifar   torchvision's ResNet-18 with the CIFAR stem (3x3 conv stride 1, no max-pool, no fc) on
          32x32x3, projector 512-2048-2048 (Linear no bias, BN, ReLU, Linear no bias, BN without
          affine), predictor 2048-512-2048 (Linear no bias, BN, ReLU, Linear with bias);
  fmnist  the same ResNet-18 at base width 16 (stages 16-32-64-128) on 28x28x1, built from
          torchvision's BasicBlock, projector 128-512-512, predictor 512-128-512.
Inputs are normalised with the recipe's mean and std (lib/aug/recipe.c)."""
import torch.nn as nn
import torchvision
from torchvision.models.resnet import BasicBlock

# in_channels, size, width, proj_hidden, proj_dim, pred_hidden, mean, std
RECIPES = {
    'cifar': (3, 32, 64, 2048, 2048, 512, (0.4914, 0.4822, 0.4465), (0.2023, 0.1994, 0.2010)),
    'fmnist': (1, 28, 16, 512, 512, 128, (0.2860,), (0.3530,)),
}


def narrow_resnet18(width, cin):
    """ResNet-18 with the CIFAR stem at any base width, from torchvision's BasicBlock (in-place
    ReLUs as in torchvision's resnet18); returns pooled features [N, 8 * width]."""
    layers = [nn.Conv2d(cin, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width), nn.ReLU(inplace=True)]
    c = width
    for i in range(4):
        out, stride = width << i, 1 if i == 0 else 2
        ds = None
        if stride != 1 or c != out:
            ds = nn.Sequential(nn.Conv2d(c, out, 1, stride, bias=False), nn.BatchNorm2d(out))
        layers += [BasicBlock(c, out, stride, ds), BasicBlock(out, out)]
        c = out
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
    return nn.Sequential(*layers)


def encoder(recipe='cifar'):
    """Returns (f, h): backbone + projector, and the predictor."""
    cin, _, width, ph, pd, qh, _, _ = RECIPES[recipe]
    if recipe == 'cifar':
        r = torchvision.models.resnet18()
        r.conv1 = nn.Conv2d(cin, width, 3, 1, 1, bias=False)
        r.maxpool = nn.Identity()
        r.fc = nn.Identity()
    else:
        r = narrow_resnet18(width, cin)
    feat = 8 * width
    proj = nn.Sequential(nn.Linear(feat, ph, bias=False), nn.BatchNorm1d(ph), nn.ReLU(inplace=True),
                         nn.Linear(ph, pd, bias=False), nn.BatchNorm1d(pd, affine=False))
    pred = nn.Sequential(nn.Linear(pd, qh, bias=False), nn.BatchNorm1d(qh), nn.ReLU(inplace=True),
                         nn.Linear(qh, pd))
    return nn.Sequential(r, proj), pred
