"""Networks of patents 001/002 for the LV (training-time only, torch).

DLAReg (patent 002): a small deep-layer-aggregation backbone (Yu et al. 2018) regressing the 11 LVQuan indices.
Residual basic blocks; hierarchical aggregation (HDA): each tree of two sub-trees/blocks is merged by an
aggregation node (concatenate + 1x1 conv + BN + ReLU) that also takes the tree's down-sampled input; iterative
aggregation (IDA) of the levels' pooled features into the head. The last layer undoes the target standardisation,
so the ONNX output "indices" (B, 11) is in mm2 / mm.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class Basic(nn.Module):
    def __init__(self, i: int, o: int, stride: int = 1):
        super().__init__()
        self.c1 = nn.Conv2d(i, o, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(o)
        self.c2 = nn.Conv2d(o, o, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(o)
        self.short = (nn.Sequential(nn.Conv2d(i, o, 1, stride, bias=False), nn.BatchNorm2d(o))
                      if stride != 1 or i != o else nn.Identity())

    def forward(self, x):
        return F.relu(self.b2(self.c2(F.relu(self.b1(self.c1(x))))) + self.short(x))


class Root(nn.Module):
    """Aggregation node: concatenate the children (and the tree's input), 1x1 conv, BN, ReLU."""

    def __init__(self, i: int, o: int):
        super().__init__()
        self.conv = nn.Conv2d(i, o, 1, bias=False)
        self.bn = nn.BatchNorm2d(o)

    def forward(self, *xs):
        return F.relu(self.bn(self.conv(torch.cat(xs, 1))))


class Tree(nn.Module):
    """HDA tree of ``levels``: levels 1 = two blocks merged by a root; deeper = two sub-trees merged by a root."""

    def __init__(self, levels: int, i: int, o: int, stride: int):
        super().__init__()
        self.levels = levels
        if levels == 1:
            self.t1, self.t2 = Basic(i, o, stride), Basic(o, o)
        else:
            self.t1, self.t2 = Tree(levels - 1, i, o, stride), Tree(levels - 1, o, o, 1)
        self.root = Root(2 * o + i, o)
        self.down = nn.MaxPool2d(stride) if stride > 1 else nn.Identity()

    def forward(self, x):
        bottom = self.down(x)
        a = self.t1(x)
        b = self.t2(a)
        return self.root(a, b, bottom)


class DLAReg(nn.Module):
    """64 x 64 input -> 11 indices. Channels (base, 2b, 4b, 8b) over levels at 32, 16, 8, 4 px."""

    def __init__(self, base: int = 12, n_out: int = 11, mean=None, std=None):
        super().__init__()
        b = base
        self.stem = nn.Sequential(nn.Conv2d(1, b, 5, 2, 2, bias=False), nn.BatchNorm2d(b), nn.ReLU(inplace=True))
        self.l1 = Tree(1, b, 2 * b, 2)
        self.l2 = Tree(2, 2 * b, 4 * b, 2)
        self.l3 = Tree(1, 4 * b, 8 * b, 2)
        self.head = nn.Sequential(nn.Linear(b + 2 * b + 4 * b + 8 * b, 64), nn.ReLU(inplace=True), nn.Dropout(0.2),
                                  nn.Linear(64, n_out))
        self.register_buffer("mean", torch.zeros(n_out) if mean is None else torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.ones(n_out) if std is None else torch.as_tensor(std, dtype=torch.float32))

    def standardised(self, x):
        f0 = self.stem(x)
        f1 = self.l1(f0)
        f2 = self.l2(f1)
        f3 = self.l3(f2)
        pooled = [f.mean(dim=(2, 3)) for f in (f0, f1, f2, f3)]    # IDA of every level into the head
        return self.head(torch.cat(pooled, 1))

    def forward(self, x):
        return self.standardised(x) * self.std + self.mean
