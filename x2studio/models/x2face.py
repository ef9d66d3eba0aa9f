"""X2Face (Wiles, Koepke, Zisserman, ECCV 2018; thesis ch. 3, supplementary A.1-A.2).

- :class:`EmbeddingNet`: a U-Net (pix2pix style) on the *source* frame.  Encoder: 4×4 stride-2
  convolutions, each followed by LeakyReLU(0.2) then BatchNorm (none on the first); decoder:
  bilinear ×2 upsampling, 3×3 convolution, ReLU, BatchNorm, with the skip connections of a U-Net.
  Output: a 2-channel sampler (δx, δy) and, as in the authors' released code, a confidence channel.
  The *embedded face* is the source frame sampled at ``identity grid + tanh(δ)``.
- :class:`DrivingNet`: an encoder-decoder without skips on the *driving* frame.  Encoder as above,
  down to 1×1 with ``dim`` = 128 channels: the **driving vector**.  Decoder: 3×3 convolutions
  (stride 1, pad 1), each followed by ReLU, bilinear ×2 upsampling and BatchNorm; the final
  2-channel map goes through tanh and is added to the identity grid: the sampler from the embedded
  face to the **generated frame**.
- :class:`X2Face`: both.  Several sources give one embedded face each; they are fused per pixel
  (:meth:`X2Face.fuse`):

  - ``"mean"``: the plain average (the paper);
  - ``"confidence"``: weights ``exp(conf) + 0.1`` (the released code's rule; training uses it);
  - ``"matched"`` (the app's default, our addition): the confidence weights times a per-source
    weight from how close the source's own driving vector is to the driving frame's,
    ``softmax_i(-d_i / mean_j d_j / MATCH_TAU)`` with ``d_i`` the mean squared difference.  A source
    whose pose and expression (as the driving network reads them) match the wanted frame's gets
    most of the weight, so the fused face is re-weighted for every driving frame; the extra cost is
    one driving-network pass per source, once, and a K-way weighted sum per frame.  Distances are
    relative to the item's mean, so a constant offset (another person driving) does not change
    them much, and far-away sources fall back to the confidence rule.

  With one source every rule gives that source.

Samplers use ``grid_sample(..., align_corners=True)`` with an identity grid from ``linspace(-1, 1)``,
which is what the original code (PyTorch 0.2-0.4) computed; today's default (``False``) silently
shifts every sample by half a pixel.  Images are floats in [0, 1] (no mean/std normalisation, as
released).  The paper configuration is ``X2Face(256, base=64, max_channels=512)`` (about 65 M
parameters); smaller ``image_size`` / ``base`` give the lite models.  No IO here.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["EmbeddingNet", "DrivingNet", "X2Face", "SourceSet", "FUSIONS", "MATCH_TAU", "identity_grid", "warp"]

FUSIONS = ("matched", "confidence", "mean")
# chosen on the faces128 validation split (1808 items, bundled x2face-lite): 3 sources vs 1,
# tau 0.1 20.6 %, 0.15 20.9 %, 0.25 21.5 %, 0.35 21.7 %, 0.5 21.6 %, 0.7 20.9 % (confidence 14.1 %)
MATCH_TAU = 0.35


def _levels(image_size: int) -> int:
    if image_size < 16 or image_size & (image_size - 1):
        raise ValueError(f"image size must be a power of two >= 16, not {image_size}")
    return int(math.log2(image_size))


def _ch(base: int, i: int, cap: int) -> int:
    return min(base * 2 ** i, cap)


def identity_grid(n: int, h: int, w: int, device=None, dtype=torch.float32) -> torch.Tensor:
    """``(n, h, w, 2)`` sampling grid that reproduces the input (``align_corners=True``)."""
    ys = torch.linspace(-1.0, 1.0, h, device=device, dtype=dtype)
    xs = torch.linspace(-1.0, 1.0, w, device=device, dtype=dtype)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1).expand(n, h, w, 2)


def warp(image: torch.Tensor, offsets: torch.Tensor) -> torch.Tensor:
    """Sample ``image`` (B, C, H, W) at ``identity + offsets`` (offsets: (B, 2, H, W), x then y)."""
    b, _, h, w = offsets.shape
    grid = identity_grid(b, h, w, offsets.device, offsets.dtype) + offsets.permute(0, 2, 3, 1)
    return F.grid_sample(image, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _down(c_in: int, c_out: int, first: bool) -> nn.Sequential:
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 4, 2, 1, bias=first), nn.LeakyReLU(0.2, inplace=True)]
    if not first:
        layers.append(nn.BatchNorm2d(c_out))
    return nn.Sequential(*layers)


def _up(c_in: int, c_out: int) -> nn.Sequential:
    """3×3 conv, ReLU, bilinear ×2, BatchNorm (the driving decoder's order)."""
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False), nn.ReLU(inplace=True),
                         nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False), nn.BatchNorm2d(c_out))


class _Encoder(nn.Module):
    def __init__(self, image_size: int, base: int, max_channels: int, last: int | None = None) -> None:
        super().__init__()
        n = _levels(image_size)
        chans = [_ch(base, i, max_channels) for i in range(n)]
        if last is not None:
            chans[-1] = last
        self.blocks = nn.ModuleList(_down(3 if i == 0 else chans[i - 1], chans[i], i == 0) for i in range(n))
        self.channels = chans

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for block in self.blocks:
            x = block(x)
            feats.append(x)
        return feats


class EmbeddingNet(nn.Module):
    """Source frame → (sampler offsets (B, 2, H, W) in (-1, 1), confidence (B, 1, H, W))."""

    def __init__(self, image_size: int = 256, base: int = 64, max_channels: int = 512) -> None:
        super().__init__()
        self.encoder = _Encoder(image_size, base, max_channels)
        chans = self.encoder.channels
        n = len(chans)
        ups = []
        c_in = chans[-1]
        for i in range(n - 1, 0, -1):          # 1×1 → 2×2 … → S/2, concatenating the skip of the same size
            c_out = chans[i - 1]
            ups.append(_up(c_in, c_out))
            c_in = 2 * c_out
        self.ups = nn.ModuleList(ups)
        self.head = nn.Sequential(nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                  nn.Conv2d(c_in, 3, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        feats = self.encoder(x)
        y = feats[-1]
        for k, up in enumerate(self.ups):
            y = torch.cat([up(y), feats[-2 - k]], dim=1)
        out = self.head(y)
        return torch.tanh(out[:, :2]), out[:, 2:3]


class DrivingNet(nn.Module):
    """Driving frame → driving vector (B, dim); driving vector → sampler offsets (B, 2, H, W)."""

    def __init__(self, image_size: int = 256, base: int = 64, max_channels: int = 512, dim: int = 128) -> None:
        super().__init__()
        self.encoder = _Encoder(image_size, base, max_channels, last=dim)
        chans = self.encoder.channels
        n = len(chans)
        ups = []
        c_in = dim
        for i in range(n - 1, 0, -1):
            ups.append(_up(c_in, chans[i - 1]))
            c_in = chans[i - 1]
        ups.append(nn.Sequential(nn.Conv2d(c_in, c_in, 3, 1, 1, bias=False), nn.ReLU(inplace=True),
                                 nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                                 nn.BatchNorm2d(c_in)))
        self.decoder = nn.Sequential(*ups)
        self.head = nn.Conv2d(c_in, 2, 3, 1, 1)
        self.dim = dim

    def vector(self, driving: torch.Tensor) -> torch.Tensor:
        return self.encoder(driving)[-1].flatten(1)

    def sampler(self, v: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.head(self.decoder(v.view(-1, self.dim, 1, 1))))


class SourceSet(NamedTuple):
    """The sources' embedded faces ``(B, K, 3, S, S)``, confidence weights ``(B, K, 1, S, S)`` and
    own driving vectors ``(B, K, dim)`` (None when not computed): what :meth:`X2Face.fuse` needs."""

    faces: torch.Tensor
    weights: torch.Tensor
    vectors: torch.Tensor | None


class X2Face(nn.Module):
    """Source frame(s) + driving frame → generated frame.  Images: floats in [0, 1]."""

    def __init__(self, image_size: int = 256, base: int = 64, max_channels: int = 512, dim: int = 128,
                 driving_base: int | None = None) -> None:
        super().__init__()
        self.embedding = EmbeddingNet(image_size, base, max_channels)
        self.driving = DrivingNet(image_size, driving_base or base, max_channels, dim)
        self.image_size, self.dim = image_size, dim

    def embed_sources(self, sources: torch.Tensor, vectors: bool = False) -> SourceSet:
        """Sources ``(B, 3, S, S)`` or ``(B, K, 3, S, S)`` → their embedded faces, confidence weights
        and (``vectors``) their own driving vectors."""
        if sources.dim() == 4:
            sources = sources[:, None]
        b, k = sources.shape[:2]
        flat = sources.flatten(0, 1)
        offsets, conf = self.embedding(flat)
        faces = warp(flat, offsets).view(b, k, *flat.shape[1:])
        w = (torch.exp(conf.clamp(max=10.0)) + 0.1).view(b, k, 1, *flat.shape[2:])
        v = self.driving.vector(flat).view(b, k, -1) if vectors and k > 1 else None
        return SourceSet(faces, w, v)

    @staticmethod
    def fuse(parts: SourceSet, v: torch.Tensor | None = None, fusion: str = "confidence",
             tau: float = MATCH_TAU) -> torch.Tensor:
        """One embedded face ``(B, 3, S, S)`` from several (see the module's notes).  ``"matched"``
        needs the driving vectors ``v`` ``(B, dim)``; a set of one batch item (``B`` = 1) is fused
        for each of ``v``'s rows."""
        faces, w = parts.faces, parts.weights
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, not {fusion!r}")
        if faces.shape[1] == 1:
            out = faces[:, 0]
        elif fusion == "mean":
            out = faces.mean(1)
        elif fusion == "confidence" or v is None:
            out = (faces * w).sum(1) / w.sum(1)
        else:
            if parts.vectors is None:
                raise ValueError("matched fusion needs the sources' driving vectors (embed_sources(vectors=True))")
            vs = parts.vectors.expand(len(v), -1, -1) if len(parts.vectors) == 1 else parts.vectors
            d = ((vs - v[:, None]) ** 2).mean(-1)
            d = d / d.mean(1, keepdim=True).clamp_min(1e-12)
            w = w * torch.softmax(-d / tau, 1)[:, :, None, None, None]
            out = (faces * w).sum(1) / w.sum(1)
        return out.expand(len(v), -1, -1, -1) if v is not None and len(out) == 1 else out

    def embed(self, sources: torch.Tensor) -> torch.Tensor:
        """Sources ``(B, 3, S, S)`` or ``(B, K, 3, S, S)`` → the embedded face ``(B, 3, S, S)``
        (K sources fused per pixel with weights exp(confidence) + 0.1: the driver-independent face)."""
        return self.fuse(self.embed_sources(sources))

    def generate(self, embedded: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """The embedded face sampled as the driving vector ``v`` (B, dim) says."""
        return warp(embedded, self.driving.sampler(v))

    def forward(self, sources: torch.Tensor, driving: torch.Tensor, fusion: str = "confidence") -> torch.Tensor:
        v = self.driving.vector(driving)
        if fusion == "matched" and sources.dim() == 5 and sources.shape[1] > 1:
            return self.generate(self.fuse(self.embed_sources(sources, vectors=True), v, "matched"), v)
        return self.generate(self.fuse(self.embed_sources(sources), fusion=fusion), v)
