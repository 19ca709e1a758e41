"""torch_peer.py: the PyTorch model of the cifar recipe, shared by the peer benchmarks
(torch_step.py, bench_gsg.py): CIFAR ResNet-18 (3x3 stem, stride 1, no max-pool, no fc),
projector 512-2048-2048 (Linear no bias, BN, ReLU, Linear no bias, BN without affine),
predictor 2048-512-2048 (Linear no bias, BN, ReLU, Linear with bias). docs/algorithm.md §7."""
import torch.nn as nn
import torchvision


def encoder():
    """Returns (f, h): backbone + projector, and the predictor."""
    r = torchvision.models.resnet18()
    r.conv1 = nn.Conv2d(3, 64, 3, 1, 1, bias=False)
    r.maxpool = nn.Identity()
    r.fc = nn.Identity()
    proj = nn.Sequential(nn.Linear(512, 2048, bias=False), nn.BatchNorm1d(2048), nn.ReLU(inplace=True),
                         nn.Linear(2048, 2048, bias=False), nn.BatchNorm1d(2048, affine=False))
    pred = nn.Sequential(nn.Linear(2048, 512, bias=False), nn.BatchNorm1d(512), nn.ReLU(inplace=True),
                         nn.Linear(512, 2048))
    return nn.Sequential(r, proj), pred
