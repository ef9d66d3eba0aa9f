"""VGG-11 (Simonyan and Zisserman's configuration A) as an identity classifier, and its conv layers
as the content-loss network of X2Face's training stage II (the thesis used VGG-Face, which cannot
be downloaded here; X2 Studio trains this network on its own identities instead).

Eight 3×3 convolutions (conv1…conv8), each followed by ReLU, max-pooling after conv1, conv2, conv4,
conv6 and conv8; then two fully connected layers (``fc`` wide) and the classifier.  ``base`` scales
the widths (64 is the paper's: 64-128-256-256-512-512-512-512, fc 4096).  Inputs: floats in [0, 1].
"""

from __future__ import annotations

import torch
from torch import nn

__all__ = ["VGG11", "PoseVGG11", "ExpressionVGG11", "CONV_CHANNELS"]

CONV_CHANNELS = (1, 2, 4, 4, 8, 8, 8, 8)      # × base
POOL_AFTER = {0, 1, 3, 5, 7}                   # conv indices (0-based) followed by max-pooling


class VGG11(nn.Module):
    def __init__(self, num_classes: int, image_size: int = 128, base: int = 64, fc: int = 4096) -> None:
        super().__init__()
        if image_size % 32:
            raise ValueError(f"image size must be a multiple of 32, not {image_size}")
        self.convs = nn.ModuleList()
        c_in = 3
        for k in CONV_CHANNELS:
            self.convs.append(nn.Conv2d(c_in, k * base, 3, 1, 1))
            c_in = k * base
        side = image_size // 32
        self.classifier = nn.Sequential(nn.Flatten(), nn.Linear(c_in * side * side, fc), nn.ReLU(inplace=True),
                                        nn.Dropout(0.5), nn.Linear(fc, fc), nn.ReLU(inplace=True), nn.Dropout(0.5),
                                        nn.Linear(fc, num_classes))
        self.register_buffer("mean", torch.tensor([0.5, 0.5, 0.5]).view(1, 3, 1, 1))
        self.image_size, self.num_classes = image_size, num_classes

    def features(self, x: torch.Tensor, upto: int = 8) -> list[torch.Tensor]:
        """Activations after the ReLU of conv1 … conv``upto`` (a list, index 0 = conv1)."""
        out = []
        x = x - self.mean
        for i, conv in enumerate(self.convs[:upto]):
            x = torch.relu(conv(x))
            out.append(x)
            if i in POOL_AFTER:
                x = nn.functional.max_pool2d(x, 2)
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(nn.functional.max_pool2d(self.features(x)[-1], 2))


class PoseVGG11(VGG11):
    """The same network as a supervised head-pose regressor: image → (yaw, pitch, roll) in degrees.
    X2 Studio's reference for the pose read-out of the driving vector (the thesis compares with a
    supervised CNN, KEPLER) and the pose estimator that is not part of X2Face."""

    def __init__(self, image_size: int = 64, base: int = 16, fc: int = 256) -> None:
        super().__init__(3, image_size, base, fc)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from .posemap import DEGREES

        return super().forward(x) * DEGREES


class ExpressionVGG11(VGG11):
    """The same network as a supervised expression regressor: image → the face data's expression
    parameters (``jaw_open, lip_round, smile, brow_raise, blink``, each 0…1).  X2 Studio's reader of
    mouth opening in generated faces (speech-driven X2Face) that is not part of X2Face."""

    NAMES = ("jaw_open", "lip_round", "smile", "brow_raise", "blink")

    def __init__(self, image_size: int = 64, base: int = 16, fc: int = 256) -> None:
        super().__init__(len(self.NAMES), image_size, base, fc)
