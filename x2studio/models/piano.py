"""Visual piano transcription network (thesis ch. 6, "Sight to Sound"; PAPERS.md §5).

Input: 5 consecutive grayscale frames of the rectified keyboard (``(B, 5, H, W)`` in [0, 1]; the
paper's crop is 145×800, key 0 = A0 at the left edge, key 87 = C8 at the right).  Outputs, per key
of the middle frame: ``onset`` logits (a note starts within ±1 frame of the middle frame — the
thesis' target) and ``down`` logits (the key is held in the middle frame — X2 Studio's addition, so
a transcription gets note durations from the video instead of a fixed rule).

Three architectures, the thesis' ablation (``arch``):

- ``"resnet"`` — ResNet-18 whose first convolution takes the 5 frames as channels;
- ``"aggregation"`` — the stem and first stage run on each frame alone (shared weights); the five
  results are fused by a 5×1×1 3-D convolution, then stages 2–4;
- ``"slope"`` — aggregation plus the slope module: an 88-vector ``linspace(0, 1)`` through two 1-D
  convolutions (kernel 3, padding 1) gives 64 channels along the keyboard, resampled to the width of
  stage 3's output and tiled over its height, concatenated to it and fused by a 3×3 convolution back
  to stage 3's channels — telling the network where along the keyboard each column lies.

``head``: ``"pool"`` (the thesis: global average pooling, then the classifier) or ``"columns"``
(X2 Studio's lite models: pooling over the height only, keeping ⌈width / 32⌉ columns along the
keyboard for the classifier).  ``base`` scales the widths (64 = ResNet-18's 64…512; the bundled lite model is narrower); the layout
(stem, [2, 2, 2, 2] basic blocks) is ResNet-18's (the blocks are :mod:`.avsync`'s, for narrow widths).
No IO here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .avsync import BasicBlock

__all__ = ["PianoNet", "ARCHS", "HEADS", "N_KEYS", "balanced_bce"]

N_KEYS = 88
ARCHS = ("resnet", "aggregation", "slope")
HEADS = ("pool", "columns")


def _stage(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(c_in, c_out, stride), BasicBlock(c_out, c_out, 1))


class PianoNet(nn.Module):
    """``(B, frames, H, W)`` → ``{"onset": (B, 88), "down": (B, 88)}`` logits.

    Args:
        arch: ``"resnet"``, ``"aggregation"`` or ``"slope"``.
        frames: frames per window (5).
        base: width of the first stage (64 = ResNet-18).
        height, width: the keyboard crop the model was trained on (recorded for the pipeline).
        dropout: before the classifier.
    """

    def __init__(self, arch: str = "slope", frames: int = 5, base: int = 64, height: int = 145, width: int = 800,
                 dropout: float = 0.2, head: str = "pool") -> None:
        super().__init__()
        if arch not in ARCHS:
            raise ValueError(f"arch must be one of {ARCHS}, not {arch!r}")
        if head not in HEADS:
            raise ValueError(f"head must be one of {HEADS}, not {head!r}")
        self.arch, self.frames, self.height, self.width = arch, int(frames), int(height), int(width)
        self.head_kind = head
        # "columns": stage 4's output pooled over the height only, so the classifier still knows
        # where along the keyboard a feature is (global pooling leaves that to the channels, and a
        # narrow network then confuses a key with the same key an octave away)
        self.columns = max(1, -(-int(width) // 32)) if head == "columns" else 1
        c1, c2, c3, c4 = base, base * 2, base * 4, base * 8
        stem_in = frames if arch == "resnet" else 1
        self.stem = nn.Sequential(nn.Conv2d(stem_in, c1, 7, 2, 3, bias=False), nn.BatchNorm2d(c1),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        self.layer1 = _stage(c1, c1, 1)
        if arch != "resnet":
            self.aggregate = nn.Sequential(nn.Conv3d(c1, c1, (frames, 1, 1), bias=False), nn.BatchNorm3d(c1),
                                           nn.ReLU(inplace=True))
        self.layer2 = _stage(c1, c2, 2)
        self.layer3 = _stage(c2, c3, 2)
        if arch == "slope":
            self.slope = nn.Sequential(nn.Conv1d(1, 32, 3, 1, 1), nn.ReLU(inplace=True), nn.Conv1d(32, 64, 3, 1, 1),
                                       nn.ReLU(inplace=True))
            self.fuse = nn.Sequential(nn.Conv2d(c3 + 64, c3, 3, 1, 1, bias=False), nn.BatchNorm2d(c3),
                                      nn.ReLU(inplace=True))
            self.register_buffer("ramp", torch.linspace(0, 1, N_KEYS).view(1, 1, N_KEYS), persistent=False)
        self.layer4 = _stage(c3, c4, 2)
        self.drop = nn.Dropout(dropout)
        self.head = nn.Linear(c4 * self.columns, 2 * N_KEYS)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, frames, H, W)`` → pooled features ``(B, 8 * base * columns)``."""
        b, t, h, w = x.shape
        if t != self.frames:
            raise ValueError(f"expected {self.frames} frames, got {t}")
        if self.arch == "resnet":
            y = self.layer1(self.stem(x))
        else:
            y = self.layer1(self.stem(x.reshape(b * t, 1, h, w)))
            y = y.reshape(b, t, *y.shape[1:]).transpose(1, 2)          # (B, C, T, h, w)
            y = self.aggregate(y).squeeze(2)
        return self._after_layer1(y)

    def forward_sequence(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every window of a frame sequence at once: ``(T, H, W)`` → logits ``(T − frames + 1, 88)``.

        With aggregation the stem and first stage run once per frame (not once per window and
        frame, which would repeat them ``frames`` times) — the same numbers as :meth:`forward` on
        each window, ~3× cheaper for a video."""
        n = x.shape[0] - self.frames + 1
        if n < 1:
            raise ValueError(f"need at least {self.frames} frames, got {x.shape[0]}")
        idx = torch.arange(n, device=x.device)[:, None] + torch.arange(self.frames, device=x.device)[None]
        if self.arch == "resnet":
            return self(x[idx])
        f = self.layer1(self.stem(x.unsqueeze(1)))                      # (T, C, h, w), once per frame
        y = self.aggregate(f[idx].transpose(1, 2)).squeeze(2)             # (n, C, h, w)
        return self.forward_head(self._after_layer1(y))

    def _after_layer1(self, y: torch.Tensor) -> torch.Tensor:
        y = self.layer3(self.layer2(y))
        if self.arch == "slope":
            s = self.slope(self.ramp)                                   # (1, 64, 88)
            s = F.interpolate(s, size=y.shape[-1], mode="linear", align_corners=True)
            s = s.unsqueeze(2).expand(y.shape[0], -1, y.shape[-2], -1)
            y = self.fuse(torch.cat([y, s], 1))
        y = self.layer4(y)
        return torch.flatten(F.adaptive_avg_pool2d(y, (1, self.columns)), 1)

    def forward_head(self, f: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.head(self.drop(f))
        return {"onset": z[:, :N_KEYS], "down": z[:, N_KEYS:]}

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.forward_head(self.forward_features(x))


def balanced_bce(logits: torch.Tensor, target: torch.Tensor, pos_weight: torch.Tensor | None = None) -> torch.Tensor:
    """Class-balanced binary cross-entropy: positives weighted by ``pos_weight`` (per key, e.g. the
    inverse positive frequency over the training set, as the thesis balances its 88 classes)."""
    return F.binary_cross_entropy_with_logits(logits, target, pos_weight=pos_weight)
