"""Networks of the patent-003 image-space experiment: a beat detector (heat-map FCN), a local branch on beat crops
(ResNet-18-style: stem + four stages of basic residual blocks, widths 8/16/32/64 instead of 64..512, one block per
stage instead of two) and a global branch on the whole printout (DenseNet-121-style: conv stem + pool, three dense
blocks of 3 bottleneck layers, growth 8, with transitions, instead of 6/12/24/16 layers with growth 32), fused by a
small head into normal/abnormal. Branch-only heads are trained alongside (deep supervision) so each branch can be
measured alone."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


def conv_bn(cin: int, cout: int, k: int = 3, s: int = 1, d: int = 1) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, s, padding=d * (k // 2), dilation=d, bias=False), nn.BatchNorm2d(cout),
                         nn.ReLU(inplace=True))


class Detector(nn.Module):
    """(B, 1, H, W) ink at 1 px/mm -> (B, 1, H/2, W/2) heat-map logits; receptive field ~ +-37 px (mm)."""

    def __init__(self, w: int = 16):
        super().__init__()
        self.body = nn.Sequential(conv_bn(1, 12, 3, 2), conv_bn(12, 12), conv_bn(12, w), conv_bn(w, w),
                                  conv_bn(w, w, d=2), conv_bn(w, w, d=4), conv_bn(w, w, d=2))
        self.out = nn.Conv2d(w, 1, 1)
        nn.init.constant_(self.out.bias, -2.2)

    def forward(self, x):
        return self.out(self.body(x))


def focal_heatmap_loss(logits: torch.Tensor, target: torch.Tensor, alpha: float = 2.0, beta: float = 4.0):
    """CenterNet's penalty-reduced focal loss on a Gaussian target heat map."""
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.ge(0.99).float()
    pos_loss = -torch.log(p) * (1 - p) ** alpha * pos
    neg_loss = -torch.log(1 - p) * p ** alpha * (1 - target) ** beta * (1 - pos)
    return (pos_loss.sum() + neg_loss.sum()) / pos.sum().clamp(min=1.0)


class Basic(nn.Module):
    def __init__(self, cin: int, cout: int, s: int):
        super().__init__()
        self.c1 = conv_bn(cin, cout, 3, s)
        self.c2 = nn.Sequential(nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.skip = (nn.Identity() if cin == cout and s == 1
                     else nn.Sequential(nn.Conv2d(cin, cout, 1, s, bias=False), nn.BatchNorm2d(cout)))

    def forward(self, x):
        return F.relu(self.c2(self.c1(x)) + self.skip(x))


class Local(nn.Module):
    """Beat crops (B, N, 60, 40) + positions (B, N, 2) + mask (B, N) -> (B, 128): masked mean and max of the
    per-beat features."""

    def __init__(self):
        super().__init__()
        self.stem = conv_bn(1, 8, 5, 1)
        self.stages = nn.Sequential(Basic(8, 8, 1), Basic(8, 16, 2), Basic(16, 32, 2), Basic(32, 64, 2))
        self.pos = nn.Linear(64 + 2, 64)

    def forward(self, crops, pos, mask):
        b, n, h, w = crops.shape
        f = self.stages(self.stem(crops.reshape(b * n, 1, h, w))).mean((2, 3)).reshape(b, n, 64)
        f = F.relu(self.pos(torch.cat([f, pos], 2)))
        m = mask.unsqueeze(2)
        mean = (f * m).sum(1) / m.sum(1).clamp(min=1.0)
        mx = (f * m - 1e4 * (1 - m)).amax(1).clamp(min=0.0)
        return torch.cat([mean, mx], 1)


class DenseLayer(nn.Module):
    def __init__(self, cin: int, growth: int):
        super().__init__()
        self.f = nn.Sequential(nn.BatchNorm2d(cin), nn.ReLU(inplace=True), nn.Conv2d(cin, 4 * growth, 1, bias=False),
                               nn.BatchNorm2d(4 * growth), nn.ReLU(inplace=True),
                               nn.Conv2d(4 * growth, growth, 3, 1, 1, bias=False))

    def forward(self, x):
        return torch.cat([x, self.f(x)], 1)


class Global(nn.Module):
    """Whole printout (B, 1, 164, 260) at 1 px/mm -> (B, c) features."""

    def __init__(self, growth: int = 8, layers: int = 3):
        super().__init__()
        c = 16
        mods: list[nn.Module] = [nn.Conv2d(1, c, 5, 2, 2, bias=False), nn.BatchNorm2d(c), nn.ReLU(inplace=True),
                                 nn.MaxPool2d(2)]
        for blk in range(3):
            for _ in range(layers):
                mods.append(DenseLayer(c, growth))
                c += growth
            if blk < 2:
                mods += [nn.BatchNorm2d(c), nn.ReLU(inplace=True), nn.Conv2d(c, c // 2, 1, bias=False),
                         nn.AvgPool2d(2)]
                c //= 2
        mods += [nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
        self.body = nn.Sequential(*mods)
        self.out_ch = c

    def forward(self, x):
        return self.body(x).mean((2, 3))


class Fused(nn.Module):
    """Local + global -> logits (B, 3): fused, local-only, global-only (abnormal vs normal)."""

    def __init__(self):
        super().__init__()
        self.local, self.glob = Local(), Global()
        c = 128 + self.glob.out_ch
        self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(c, 64), nn.ReLU(inplace=True), nn.Linear(64, 1))
        self.head_local = nn.Linear(128, 1)
        self.head_global = nn.Linear(self.glob.out_ch, 1)

    def forward(self, crops, pos, mask, image):
        fl, fg = self.local(crops, pos, mask), self.glob(image)
        return torch.cat([self.head(torch.cat([fl, fg], 1)), self.head_local(fl), self.head_global(fg)], 1)
