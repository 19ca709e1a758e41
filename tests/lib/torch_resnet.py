"""torch_resnet.py: the PyTorch models the reference scripts share (tests/pipelines/
torch_step_parity.py, tests/bench/torch_ablation.py): ResNet-18 with the CIFAR stem (3x3 conv,
stride 1, no max-pool), any base width and input channels, torchvision's parameter names, and the
SimSiam heads of docs/algorithm.md §7 with formats/checkpoint.md's names."""
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    """torchvision's BasicBlock, by name: conv1 bn1 conv2 bn2 [downsample.0 downsample.1]."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.downsample is None else self.downsample(x)))


class Backbone(nn.Module):
    """ResNet-18, CIFAR stem; backbone(x) -> globally pooled features [N, 8*width]."""

    def __init__(self, width, in_channels):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        c = width
        for i, m in enumerate([1, 2, 4, 8]):
            setattr(self, f'layer{i + 1}', nn.Sequential(Block(c, width * m, 1 if i == 0 else 2), Block(width * m, width * m, 1)))
            c = width * m
        self.feat = c

    def backbone(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        return self.layer4(self.layer3(self.layer2(self.layer1(y)))).mean((2, 3))


def projector(feat, hidden, dim):
    """2 layers: Linear no-bias, BN, ReLU, Linear no-bias, BN without affine."""
    return nn.Sequential(nn.Linear(feat, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(),
                         nn.Linear(hidden, dim, bias=False), nn.BatchNorm1d(dim, affine=False))


def predictor(dim, hidden):
    """Linear no-bias, BN, ReLU, Linear with bias."""
    return nn.Sequential(nn.Linear(dim, hidden, bias=False), nn.BatchNorm1d(hidden), nn.ReLU(), nn.Linear(hidden, dim))
