"""A small CNN for the echo view model (view + quality + guidance heads), for when EfficientNet-Lite0 cannot be
fine-tuned within the training budget (2 shared CPU cores). Plain 3x3 convolutions, BatchNorm, ReLU6; a 3x3 average
pool keeps the coarse layout of the fan (where the chambers are), which names the view.
Ops: Conv, Clip(0,6), AveragePool, Flatten, Gemm, Sigmoid -> converts with models/training/tflite_export.py.
"""

from __future__ import annotations

import torch
from torch import nn


def _block(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class EchoViewSmall(nn.Module):
    def __init__(self, n_views: int, n_guidance: int, size: int = 96, width: int = 1):
        super().__init__()
        c = [16 * width, 32 * width, 48 * width, 64 * width, 96 * width]
        self.features = nn.Sequential(
            _block(1, c[0], 2),      # 48
            _block(c[0], c[1], 2),   # 24
            _block(c[1], c[1], 1),
            _block(c[1], c[2], 2),   # 12
            _block(c[2], c[2], 1),
            _block(c[2], c[3], 2),   # 6
            _block(c[3], c[4], 1),
        )
        s = size // 16
        self.pool = nn.AvgPool2d(s // 3) if s % 3 == 0 else nn.AdaptiveAvgPool2d(3)
        self.fc = nn.Sequential(nn.Flatten(), nn.Dropout(0.2), nn.Linear(c[4] * 9, 192), nn.ReLU6(inplace=True),
                                nn.Dropout(0.1))
        self.view = nn.Linear(192, n_views)
        self.quality = nn.Linear(192, 1)
        self.guidance = nn.Linear(192, n_guidance)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = self.fc(self.pool(self.features(x)))
        return self.view(f), torch.sigmoid(self.quality(f)), self.guidance(f)
