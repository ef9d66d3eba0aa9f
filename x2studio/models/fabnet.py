"""FAb-Net's encoder and decoder (Wiles et al., thesis ch. 4; oawiles/FAb-Net), and the heads of the
self-supervised baselines that FAb-Net's tables compare with.

- :class:`FAbNetEncoder`: ``n_down`` stride-2 4×4 convolutions (LeakyReLU 0.2, BatchNorm from the
  second) from an ``S×S`` RGB image to a ``D``-dimensional embedding.  With ``S = 256`` and
  ``n_down = 8`` the last map is 1×1 (the paper: 32 base filters, 256-D); smaller images use fewer
  layers and a final linear projection when the last map is larger than 1×1.
- :class:`FAbNetDecoder`: the mirror (pix2pix without skips): transposed 4×4 convolutions back to
  ``S×S`` with ``out_channels`` maps.
- :class:`Autoencoder`: encoder → decoder reconstructing the image (tanh, range [-1, 1]).
- :class:`RotationNet`: encoder → linear ``D → 4`` (0/90/180/270 degrees; Gidaris et al.).
- :class:`FAbNet`: the shared encoder embeds a source and a target frame; the decoder turns the
  512-D concatenation into per-pixel offsets (and a confidence) with which the source is sampled
  bilinearly to give the target.  Several sources: a per-pixel softmax over their confidences.

Inputs are float tensors ``(B, 3, S, S)`` in [-1, 1].  No IO here.
"""

from __future__ import annotations

import math

import torch
from torch import nn

__all__ = ["FAbNetEncoder", "FAbNetDecoder", "Autoencoder", "RotationNet", "FAbNet", "AttributeHead", "encoder_layers",
           "load_embedder", "to_model_input", "EMBEDDERS"]

# architectures whose ``encoder`` is a face embedding
EMBEDDERS = ("fabnet", "fabnet-autoencoder", "fabnet-rotation", "hierarchical")
# the binary, action-unit-like expression read-outs (target ``expression`` of the attribute heads):
# the rendered faces' expression parameters (jaw_open, lip_round, smile, brow_raise, blink) above these
EXPRESSION_LABELS = ("mouth open", "lips rounded", "smile", "brows raised", "eyes closed")
EXPRESSION_THRESHOLDS = (0.45, 0.4, 0.5, 0.5, 0.5)


def encoder_layers(image_size: int, min_map: int = 1) -> int:
    """Stride-2 layers that take ``image_size`` down to ``min_map`` (8 for 256 → 1)."""
    if image_size < 8 or image_size & (image_size - 1):
        raise ValueError(f"image size must be a power of two >= 8, not {image_size}")
    return int(math.log2(image_size // min_map))


def _channels(base: int, i: int, cap: int) -> int:
    return min(base * 2 ** i, cap)


class FAbNetEncoder(nn.Module):
    """``(B, 3, S, S)`` in [-1, 1] → ``(B, dim)`` embedding."""

    def __init__(self, image_size: int = 256, dim: int = 256, base: int = 32, max_channels: int = 256,
                 n_down: int | None = None) -> None:
        super().__init__()
        n = n_down if n_down is not None else encoder_layers(image_size)
        layers: list[nn.Module] = []
        c_in = 3
        for i in range(n):
            c_out = dim if i == n - 1 and image_size >> n == 1 else _channels(base, i, max_channels)
            layers.append(nn.Conv2d(c_in, c_out, 4, 2, 1, bias=i == 0))
            if i < n - 1:
                if i > 0:
                    layers.append(nn.BatchNorm2d(c_out))
                layers.append(nn.LeakyReLU(0.2, inplace=True))
            c_in = c_out
        self.features = nn.Sequential(*layers)
        side = image_size >> n
        self.proj = nn.Identity() if side == 1 and c_in == dim else nn.Linear(c_in * side * side, dim)
        self.image_size, self.dim = image_size, dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.features(x).flatten(1))


class FAbNetDecoder(nn.Module):
    """``(B, dim)`` → ``(B, out_channels, S, S)`` (no output activation)."""

    def __init__(self, image_size: int = 256, dim: int = 256, base: int = 32, max_channels: int = 256,
                 out_channels: int = 3) -> None:
        super().__init__()
        n = encoder_layers(image_size)
        chans = [_channels(base, i, max_channels) for i in range(n)][::-1]   # widest first
        self.start = nn.Sequential(nn.Linear(dim, chans[0]), nn.ReLU(inplace=True))
        layers: list[nn.Module] = []
        for i in range(n):
            c_in = chans[i]
            last = i == n - 1
            c_out = out_channels if last else chans[i + 1]
            layers.append(nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=last))
            if not last:
                layers += [nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        self.up = nn.Sequential(*layers)
        self.c0 = chans[0]

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.up(self.start(z).view(-1, self.c0, 1, 1))


class Autoencoder(nn.Module):
    """Reconstruct the image through the ``dim``-D bottleneck (FAb-Net's autoencoder baseline)."""

    def __init__(self, image_size: int = 256, dim: int = 256, base: int = 32, max_channels: int = 256) -> None:
        super().__init__()
        self.encoder = FAbNetEncoder(image_size, dim, base, max_channels)
        self.decoder = FAbNetDecoder(image_size, dim, base, max_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(self.encoder(x)))


class RotationNet(nn.Module):
    """Predict which of 0/90/180/270 degrees an image was rotated by: logits ``(B, 4)``."""

    def __init__(self, image_size: int = 256, dim: int = 256, base: int = 32, max_channels: int = 256) -> None:
        super().__init__()
        self.encoder = FAbNetEncoder(image_size, dim, base, max_channels)
        self.head = nn.Linear(dim, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.encoder(x))


class FAbNet(nn.Module):
    """FAb-Net (thesis ch. 4): ``forward(sources (B, K, 3, S, S), target (B, 3, S, S))`` → the target
    generated from the sources, ``(B, 3, S, S)``, in the inputs' range.

    Offsets are ``tanh`` of the decoder's first two maps (a shift of at most the image's half-width,
    in ``grid_sample``'s [-1, 1] coordinates, ``align_corners=True``) added to the identity grid; the
    third map is the confidence that fuses several sources (a per-pixel softmax over them)."""

    def __init__(self, image_size: int = 256, dim: int = 256, base: int = 32, max_channels: int = 256) -> None:
        super().__init__()
        self.encoder = FAbNetEncoder(image_size, dim, base, max_channels)
        self.decoder = FAbNetDecoder(image_size, 2 * dim, base, max_channels, out_channels=3)
        lin = torch.linspace(-1.0, 1.0, image_size)
        gy, gx = torch.meshgrid(lin, lin, indexing="ij")
        self.register_buffer("identity", torch.stack([gx, gy], -1)[None], persistent=False)
        self.image_size, self.dim = image_size, dim

    def sample(self, source: torch.Tensor, e_src: torch.Tensor, e_tgt: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One source → (its sample towards the target, its confidence ``(B, 1, S, S)``)."""
        out = self.decoder(torch.cat([e_src, e_tgt], 1))
        grid = self.identity + torch.tanh(out[:, :2]).permute(0, 2, 3, 1)
        return nn.functional.grid_sample(source, grid, mode="bilinear", padding_mode="border",
                                         align_corners=True), out[:, 2:3]

    def forward(self, sources: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if sources.dim() == 4:
            sources = sources[:, None]
        b, k = sources.shape[:2]
        e_tgt = self.encoder(target)
        e_src = self.encoder(sources.flatten(0, 1))
        samples, conf = self.sample(sources.flatten(0, 1), e_src, e_tgt.repeat_interleave(k, 0))
        if k == 1:
            return samples
        w = torch.softmax(conf.view(b, k, 1, *conf.shape[-2:]), 1)
        return (samples.view(b, k, *samples.shape[1:]) * w).sum(1)


class AttributeHead(nn.Module):
    """A read-out of a frozen embedding (the thesis' downstream heads): BatchNorm, then a linear layer
    without bias.  ``target`` and ``encoder`` name what it reads and from which weights."""

    def __init__(self, dim: int = 256, outputs: int = 3, target: str = "pose", encoder: str = "") -> None:
        super().__init__()
        self.bn = nn.BatchNorm1d(dim)
        self.fc = nn.Linear(dim, outputs, bias=False)
        self.dim, self.outputs, self.target, self.encoder = dim, outputs, target, encoder

    def forward(self, e: torch.Tensor) -> torch.Tensor:
        return self.fc(self.bn(e))


def load_embedder(entry, device: str = "cpu") -> FAbNetEncoder:
    """The 256-D face embedding (the encoder) of a FAb-Net, autoencoder or rotation weights entry."""
    from .registry import model_from_card

    return model_from_card(entry, device, allowed=EMBEDDERS).encoder


def to_model_input(images, image_size: int) -> torch.Tensor:
    """RGB ``uint8`` images ``(B, H, W, 3)`` (or one ``(H, W, 3)``) → ``(B, 3, S, S)`` in [-1, 1]."""
    import numpy as np
    import torch.nn.functional as F

    arr = np.asarray(images)
    if arr.ndim == 3:
        arr = arr[None]
    if arr.ndim != 4 or arr.shape[-1] != 3:
        raise ValueError(f"expected RGB images (B, H, W, 3), got shape {arr.shape}")
    x = torch.from_numpy(np.ascontiguousarray(arr)).permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
    if x.shape[-1] != image_size or x.shape[-2] != image_size:
        x = F.interpolate(x, size=(image_size, image_size), mode="area")
    return x
