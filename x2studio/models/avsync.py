"""Audio-visual synchronisation network (thesis ch. 7; PAPERS.md §6), the SyncNet family.

- :class:`VisualStream` — a ResNet-18 (four stages of two basic blocks) on ``frames`` stacked
  grayscale frames → global pooling → two fully connected layers → ``v`` (``dim``).
- :class:`AudioStream` — CREPE-like: six 1-D convolutions (batch norm, ReLU, max-pooling) on
  ``window_s`` of raw mono audio at ``sample_rate`` → two fully connected layers → ``a`` (``dim``).
  Its output is also X2 Studio's learned per-frame speech feature (the audio control of X2Face).
- :func:`contrastive_loss` — Chopra et al.: matching pairs pay d², non-matching max(0, m − d)².

Time convention (shared with :func:`x2studio.media.audio.frame_windows`): frame ``k`` of a video at
``fps`` is shown at ``k / fps``; the visual window of frame ``k`` is frames ``k − 2 … k + 2`` and its
audio window is the ``window_s`` of audio centred on ``k / fps``.

The ResNet is written here rather than taken from torchvision: torchvision's ResNet fixes the
stage widths at 64…512, and X2 Studio's bundled model needs a narrower one (``base``) to stay
small and run on a CPU; the layout (stem, [2, 2, 2, 2] basic blocks, strides) is ResNet-18's.
No IO here.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["AVSync", "AudioStream", "VisualStream", "contrastive_loss", "MOUTH_BOX"]

# The mouth region of an X2 Studio face crop (x0, y0, x1, y1 as fractions of the crop's side): the
# crops are the face box × 1.9, centred; the region is wide enough for a head turned by ±60°.
MOUTH_BOX = (0.22, 0.48, 0.78, 0.90)


class BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.down = None
        if stride != 1 or c_in != c_out:
            self.down = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class VisualStream(nn.Module):
    """``(B, frames, H, W)`` grayscale in [0, 1] → ``(B, dim)``."""

    def __init__(self, frames: int = 5, base: int = 64, dim: int = 256, fc: int = 256) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(frames, base, 7, 2, 3, bias=False), nn.BatchNorm2d(base),
                                  nn.ReLU(inplace=True), nn.MaxPool2d(3, 2, 1))
        blocks, c = [], base
        for k, stride in enumerate((1, 2, 2, 2)):
            w = base * 2 ** k
            blocks += [BasicBlock(c, w, stride), BasicBlock(w, w, 1)]
            c = w
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.Linear(c, fc), nn.ReLU(inplace=True), nn.Linear(fc, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.blocks(self.stem(x - 0.5))
        return self.head(x.mean((2, 3)))


class AudioStream(nn.Module):
    """``(B, samples)`` mono audio in [-1, 1] → ``(B, dim)``.

    Six convolutions as CREPE's: the first with a long kernel and stride 4, the others short, each
    followed by batch norm, ReLU and max-pooling by 2 (CREPE: 1024 samples, kernels 512 and 64; here
    0.2 s = 3200 samples at 16 kHz, kernels 128 and 15).  Each window is scaled to unit RMS first
    (the level is kept as one extra input of the head), so that recordings at any level give the
    same features."""

    def __init__(self, samples: int = 3200, widths: tuple[int, ...] = (128, 32, 32, 32, 64, 128),
                 first_kernel: int = 128, kernel: int = 15, dim: int = 256, fc: int = 512) -> None:
        super().__init__()
        if len(widths) != 6:
            raise ValueError(f"the audio stream has six convolutions, not {len(widths)}")
        layers, c_in = [], 1
        for k, w in enumerate(widths):
            conv = (nn.Conv1d(c_in, w, first_kernel, 4, first_kernel // 2 - 2) if k == 0
                    else nn.Conv1d(c_in, w, kernel, 1, "same"))
            layers += [conv, nn.BatchNorm1d(w), nn.ReLU(inplace=True), nn.MaxPool1d(2)]
            c_in = w
        self.convs = nn.Sequential(*layers)
        with torch.no_grad():
            n = self.convs(torch.zeros(1, 1, samples)).numel()
        self.head = nn.Sequential(nn.Linear(n + 1, fc), nn.ReLU(inplace=True), nn.Linear(fc, dim))
        self.samples = samples

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.samples:
            raise ValueError(f"audio windows must have {self.samples} samples, not {x.shape[-1]}")
        rms = x.pow(2).mean(-1, keepdim=True).sqrt()
        y = self.convs((x / (rms + 1e-3))[:, None]).flatten(1)
        level = torch.log10(rms + 1e-4)          # -4 (silence) … 0 (full scale)
        return self.head(torch.cat([y, level], 1))


class AVSync(nn.Module):
    """The two streams.  ``forward(frames, audio)`` → ``(v, a)``; ``distance`` = ‖v − a‖₂."""

    def __init__(self, sample_rate: int = 16000, window_s: float = 0.2, frames: int = 5,
                 mouth_size: tuple[int, int] = (48, 64), base: int = 64, dim: int = 256, fc: int = 256,
                 audio_widths: tuple[int, ...] = (128, 32, 32, 32, 64, 128), audio_fc: int = 512,
                 kind: str = "face") -> None:
        super().__init__()
        self.samples = int(round(sample_rate * window_s))
        self.visual = VisualStream(frames, base, dim, fc)
        self.audio = AudioStream(self.samples, tuple(audio_widths), dim=dim, fc=audio_fc)
        self.sample_rate, self.window_s, self.frames = sample_rate, window_s, frames
        self.mouth_size, self.dim, self.kind = tuple(mouth_size), dim, kind

    def forward(self, frames: torch.Tensor, audio: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``v`` of each visual window and ``a`` of each audio window; with ``k`` times as many audio
        windows as visual ones, ``v`` is repeated ``k`` times (several audio windows per clip)."""
        v, a = self.visual(frames), self.audio(audio)
        if a.shape[0] != v.shape[0]:
            if a.shape[0] % v.shape[0]:
                raise ValueError(f"{a.shape[0]} audio windows do not pair with {v.shape[0]} visual windows")
            v = v.repeat(a.shape[0] // v.shape[0], 1)
        return v, a

    @staticmethod
    def distance(v: torch.Tensor, a: torch.Tensor) -> torch.Tensor:
        return (v - a).pow(2).sum(-1).add(1e-9).sqrt()


def contrastive_loss(v: torch.Tensor, a: torch.Tensor, match: torch.Tensor, margin: float = 1.0) -> torch.Tensor:
    """Mean of d² for matching pairs (``match`` 1) and max(0, margin − d)² for the others (0)."""
    d = AVSync.distance(v, a)
    match = match.to(d.dtype)
    return (match * d.pow(2) + (1 - match) * F.relu(margin - d).pow(2)).mean()


def mouth_regions(crops: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Grayscale mouth regions ``(N, H, W)`` in [0, 1] of face crops ``(N, 3, S, S)`` in [0, 1]."""
    s = crops.shape[-1]
    x0, y0, x1, y1 = (int(round(f * s)) for f in MOUTH_BOX)
    gray = (crops[:, 0] * 0.299 + crops[:, 1] * 0.587 + crops[:, 2] * 0.114)[:, y0:y1, x0:x1]
    return F.interpolate(gray[:, None], size=tuple(size), mode="area")[:, 0]
