"""The hierarchical probabilistic embedding (thesis appendix A; PAPERS.md §3).

FAb-Net's proxy task — transform a source frame into a target frame, conditioned on both frames'
embeddings — with a decoder that predicts *where each target pixel comes from* as a probability
distribution over source pixels, coarse to fine:

- level 1 (``base_res``², 32² in the paper): the full match distribution
  ``A¹[s, t] = softmax_s M¹[s, t]`` over every source pixel ``s`` for every target pixel ``t``;
  the generated frame is ``Σ_s A¹[s, t] I_S[s]`` (Eq. 1, 3);
- level r > 1 (resolution doubled): each target pixel keeps only the top-``k`` sources of its parent
  pixel at level r−1; each of them has four children at level r, so the decoder predicts ``4k``
  values ``Mʳ`` per pixel, which re-weight the parent's probabilities:
  ``Pʳ = Aʳ⁻¹(parent) · Mʳ`` and ``Aʳ = softmax(Pʳ)`` over the 4k candidates (Eq. 4, 5).  The
  candidates are *gathered* (index tensors), so memory grows with ``4k`` per pixel, not with the
  square of the image (``benchmarks/hierarchical.py`` shows the peak at 128²);
- a confidence branch (same structure, own weights) predicts ``σʳ`` per pixel for the
  Laplace-weighted photometric loss (Eq. 6); the cyclic loss with uniqueness normalisation
  (Eq. 7, 8) uses level 1 in both directions (:func:`cyclic_loss`).

The embedding used downstream is the encoder's (as FAb-Net's): ``model.encoder``.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .fabnet import FAbNetEncoder

__all__ = ["HierarchicalEmbedding", "refine", "first_level", "cyclic_loss", "confidence_loss", "children"]


def _up_block(c_in: int, c_out: int) -> nn.Sequential:
    # the paper's upsampling layer: ReLU, bilinear ×2, convolution, batch norm
    return nn.Sequential(nn.ReLU(inplace=False), nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                         nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out))


class _Trunk(nn.Module):
    """Concatenated embeddings (``2·dim``) → feature maps at ``base_res · 2^(l)`` for each level."""

    def __init__(self, dim: int, base_res: int, levels: int, base: int, max_channels: int) -> None:
        super().__init__()
        n_up = int(round(math.log2(base_res))) + levels - 1
        chans = [min(max_channels, base * 2 ** max(0, n_up - 1 - i)) for i in range(n_up)]
        self.blocks = nn.ModuleList()
        c = 2 * dim
        for co in chans:
            self.blocks.append(_up_block(c, co))
            c = co
        self.taps = list(range(n_up - levels, n_up))          # block outputs at the levels' resolutions
        self.channels = [chans[i] for i in self.taps]

    def forward(self, z: torch.Tensor, levels: int) -> list[torch.Tensor]:
        x = z[:, :, None, None]
        out = []
        for i, blk in enumerate(self.blocks):
            x = blk(x)
            if i in self.taps:
                out.append(x)
                if len(out) == levels:
                    break
        return out


def children(idx: torch.Tensor, width: int) -> torch.Tensor:
    """Flat source indices ``(B, K, H, W)`` at a level of ``width``² → their four children at the
    next level (``2·width``²), ``(B, 4K, H, W)`` ordered candidate-major ``[k·4 + 2a + b]``."""
    y, x = idx // width, idx % width
    kids = [(2 * y + a) * (2 * width) + (2 * x + b) for a in (0, 1) for b in (0, 1)]
    b_, k, h, w = idx.shape
    return torch.stack(kids, 2).reshape(b_, 4 * k, h, w)


def _gather_sum(source: torch.Tensor, idx: torch.Tensor, prob: torch.Tensor) -> torch.Tensor:
    """``Σ_q prob[q, t] · source[:, idx[q, t]]``: source ``(B, C, N)``, idx/prob ``(B, Q, H, W)`` →
    ``(B, C, H, W)``."""
    b, c, _ = source.shape
    _, q, h, w = idx.shape
    vals = torch.gather(source, 2, idx.reshape(b, 1, q * h * w).expand(b, c, q * h * w)).view(b, c, q, h, w)
    return (vals * prob.unsqueeze(1)).sum(2)


def first_level(m1: torch.Tensor, source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Level 1: logits ``(B, N, H, W)`` over the ``N = H·W`` source pixels → the distribution
    ``A¹`` (softmax over sources) and the generated frame ``(B, C, H, W)`` from ``source``."""
    a = torch.softmax(m1, 1)
    b, n, h, w = a.shape
    gen = torch.bmm(source.flatten(2), a.view(b, n, h * w)).view(b, -1, h, w)
    return a, gen


def refine(prev_prob: torch.Tensor, prev_idx: torch.Tensor, prev_width: int, m: torch.Tensor,
           source: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """One refinement level (Eq. 4, 5).

    ``prev_prob``/``prev_idx`` ``(B, K, H, W)``: each level-(r−1) target pixel's kept sources
    (probabilities and flat indices at ``prev_width``²); ``m`` ``(B, 4K, 2H, 2W)``: the decoder's
    values; ``source`` ``(B, C, 2H, 2W)``.  Returns the distribution ``(B, 4K, 2H, 2W)`` over each
    pixel's candidates, their flat indices at this level, and the generated frame.
    """
    kid_idx = children(prev_idx, prev_width)                               # (B, 4K, H, W)
    parent_p = prev_prob.repeat_interleave(4, 1)                            # each child: its parent's A
    up = lambda t: t.repeat_interleave(2, 2).repeat_interleave(2, 3)        # noqa: E731 - target pixel → parent
    idx, p = up(kid_idx), up(parent_p) * m
    a = torch.softmax(p, 1)
    return a, idx, _gather_sum(source.flatten(2), idx, a)


def _top(a: torch.Tensor, idx: torch.Tensor | None, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    val, pos = torch.topk(a, min(k, a.shape[1]), dim=1)
    return val, (pos if idx is None else torch.gather(idx, 1, pos))


class HierarchicalEmbedding(nn.Module):
    """Encoder (FAb-Net's) + the hierarchical match decoder and the confidence decoder."""

    def __init__(self, image_size: int = 64, dim: int = 256, base: int = 32, max_channels: int = 128,
                 base_res: int = 16, levels: int = 3, k: int = 9) -> None:
        super().__init__()
        if base_res * 2 ** (levels - 1) > image_size:
            raise ValueError(f"levels {levels} from {base_res}² go beyond the {image_size}² input")
        self.image_size, self.dim, self.base_res, self.levels, self.k = image_size, dim, base_res, levels, k
        self.encoder = FAbNetEncoder(image_size, dim, base, max_channels)
        self.m_trunk = _Trunk(dim, base_res, levels, base, max_channels)
        self.s_trunk = _Trunk(dim, base_res, levels, base, max_channels)
        outs = [base_res * base_res] + [4 * k] * (levels - 1)
        self.m_heads = nn.ModuleList(nn.Conv2d(c, o, 5, padding=2) for c, o in zip(self.m_trunk.channels, outs))
        self.s_heads = nn.ModuleList(nn.Conv2d(c, 1, 5, padding=2) for c in self.s_trunk.channels)

    def resolution(self, level: int) -> int:
        return self.base_res * 2 ** (level - 1)

    def pyramid(self, image: torch.Tensor, levels: int) -> list[torch.Tensor]:
        return [F.interpolate(image, size=(self.resolution(r), self.resolution(r)), mode="area")
                for r in range(1, levels + 1)]

    def decode(self, e_src: torch.Tensor, e_tgt: torch.Tensor, source: torch.Tensor, levels: int | None = None,
               confidence: bool = True) -> list[dict]:
        """Per level: ``generated`` ``(B, C, R, R)``, ``sigma`` ``(B, 1, R, R)``, and at level 1 the full
        distribution ``A`` ``(B, R², R, R)``."""
        levels = self.levels if levels is None else min(levels, self.levels)
        z = torch.cat([e_src, e_tgt], 1)
        mf = self.m_trunk(z, levels)
        sf = self.s_trunk(z, levels) if confidence else [None] * levels
        src = self.pyramid(source, levels)
        out = []
        prob = idx = None
        for r in range(levels):
            m = self.m_heads[r](mf[r])
            if r == 0:
                a, gen = first_level(m, src[0])
                level = {"A": a}
                prob, idx = _top(a, None, self.k)
            else:
                a, full_idx, gen = refine(prob, idx, self.resolution(r), m, src[r])
                level = {}
                prob, idx = _top(a, full_idx, self.k)
            level["generated"] = gen
            if confidence:
                level["sigma"] = F.softplus(self.s_heads[r](sf[r])) + 1e-3
            out.append(level)
        return out

    def forward(self, source: torch.Tensor, target: torch.Tensor, levels: int | None = None) -> list[dict]:
        e_s, e_t = self.encoder(source), self.encoder(target)
        return self.decode(e_s, e_t, source, levels)


def confidence_loss(generated: torch.Tensor, target: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """Eq. 6 averaged over pixels: the negative log-likelihood of a Laplace distribution with scale
    ``σ/√2`` for the L1 photometric error summed over channels."""
    err = (generated - target).abs().sum(1, keepdim=True)
    return (torch.log(math.sqrt(2) * sigma) + math.sqrt(2) * err / sigma).mean()


def _unique(a: torch.Tensor) -> torch.Tensor:
    """Eq. 8 on ``(B, N_from, N_to)`` (softmax over ``N_from``): down-weight sources that many targets
    map to."""
    return torch.minimum(a / a.sum(2, keepdim=True).clamp_min(1e-8), a / a.sum(1, keepdim=True).clamp_min(1e-8))


def cyclic_loss(a_st: torch.Tensor, a_ts: torch.Tensor) -> torch.Tensor:
    """Eq. 7: ``a_st`` ``(B, N, H, W)`` the level-1 distribution of each target pixel over source
    pixels, ``a_ts`` the same from target to source; the mean over source pixels of
    ``−ln Σ_t A_ts[t, s] A_st[s, t]`` after the uniqueness normalisation."""
    b, n = a_st.shape[:2]
    st = _unique(a_st.reshape(b, n, n))          # [source s, target t]
    ts = _unique(a_ts.reshape(b, n, n))          # [target t, source s]
    back = (ts * st.transpose(1, 2)).sum(1)      # for each source s: Σ_t ts[t, s] st[s, t]
    return -torch.log(back.clamp_min(1e-8)).mean()
